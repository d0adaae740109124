"""
The whole two-step sign-in in a real Chromium, with the production CSP: an administrator
enrols, signs out, signs in with a backup code, visits the site and the admin, and the
browser reports no policy violation on the way (Chromium logs each one to the console).
"""
from __future__ import annotations

import re
from base64 import b32decode

import pytest
from django_otp.oath import totp
from playwright.sync_api import Page

from accounts.models import User
from tests.factories import DEFAULT_PASSWORD, make_user

pytestmark = pytest.mark.browser


def current_code(secret: str) -> str:
    return f"{totp(b32decode(secret.replace(' ', ''))):06d}"


def sign_in_with_password(page: Page, base: str, username: str) -> None:
    page.goto(f"{base}/accounts/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(DEFAULT_PASSWORD)
    page.get_by_role("button", name="Sign in").click()


PAGES = ("/", "/incidents/", "/incidents/new/", "/accounts/security/", "/accounts/preferences/", "/admin/",
         "/admin/incidents/incident/", "/admin/incidents/incident/add/", "/admin/accounts/user/",
         "/admin/accounts/user/{user}/change/", "/admin/audit/auditlog/")


@pytest.fixture
def staff(transactional_db) -> User:
    """Made before the browser starts: Playwright's event loop forbids the ORM in its thread."""
    return make_user(username="chief", is_staff=True, is_superuser=True)


def test_staff_enrol_and_sign_in_with_a_code_under_the_strict_policy(live_server, staff, new_page, screenshot):
    page = new_page()
    violations: list[str] = []
    page.on("console", lambda message: violations.append(message.text)
            if "Content Security Policy" in message.text or "Refused to" in message.text else None)

    sign_in_with_password(page, live_server.url, "chief")
    page.goto(f"{live_server.url}/incidents/")
    assert page.url.endswith("/accounts/security/"), "staff are held at enrolment"
    page.get_by_role("button", name="Set up an authenticator app").click()
    assert page.locator(".qr-code svg").is_visible()
    secret = page.locator("code.secret").inner_text()
    page.get_by_label("Code from the app").fill(current_code(secret))
    page.get_by_role("button", name="Turn on two-factor sign-in").click()
    codes = page.locator(".code-list code").all_inner_texts()
    assert len(codes) == 10

    page.get_by_role("button", name="Sign out").click()
    sign_in_with_password(page, live_server.url, "chief")
    assert page.get_by_role("heading", name="Enter your code").is_visible()
    page.get_by_label("Code").fill(codes[0])
    page.get_by_role("button", name="Verify").click()
    assert re.search(r"/$", page.url)

    for path in PAGES:
        response = page.goto(live_server.url + path.format(user=staff.pk))
        assert response is not None and response.status == 200, path
    screenshot(page, "admin-audit-log")
    assert violations == []
