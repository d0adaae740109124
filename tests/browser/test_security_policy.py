"""
The whole two-step sign-in in a real Chromium, with the production CSP: an administrator
enrols through a one-time enrolment link, signs out, signs in with a backup code, visits the site and the admin, and the
browser reports no policy violation on the way (Chromium logs each one to the console).
"""
from __future__ import annotations

from base64 import b32decode

import pytest
from django_otp.oath import totp
from django.urls import reverse
from playwright.sync_api import Page

from accounts.models import User
from accounts.services import enrolment_link_issue
from tests.browser.steps import expect_at
from tests.factories import DEFAULT_PASSWORD, make_user

pytestmark = pytest.mark.browser


def current_code(secret: str) -> str:
    return f"{totp(b32decode(secret.replace(' ', ''))):06d}"


def sign_in_with_password(page: Page, base: str, username: str) -> None:
    page.goto(f"{base}/accounts/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(DEFAULT_PASSWORD)
    page.get_by_role("button", name="Sign in").click()


# Every page staff use, with its heading: each must load as itself, not as a redirect elsewhere.
PAGES = {
    "/": "Dashboard",
    "/incidents/": "Incidents",
    "/incidents/new/": "Report an incident",
    "/accounts/security/": "Account security",
    "/accounts/preferences/": "Preferences",
    "/admin/": "Site administration",
    "/admin/incidents/incident/": "Select incident to change",
    "/admin/incidents/incident/add/": "Add incident",
    "/admin/accounts/user/": "Select user to change",
    "/admin/accounts/user/{user}/change/": "Change user",
    "/admin/audit/auditlog/": "Select audit log entry to view",
}


@pytest.fixture
def staff(transactional_db) -> User:
    """Made before the browser starts: Playwright's event loop forbids the ORM in its thread."""
    return make_user(username="chief", is_staff=True, is_superuser=True)


@pytest.fixture
def enrolment_link(staff) -> str:
    """The path of the one-time link an operator would hand over (`manage.py enrolment_link chief`)."""
    return reverse("accounts:enrol_link", kwargs={"token": enrolment_link_issue(staff, actor=None)})


def test_staff_enrol_and_sign_in_with_a_code_under_the_strict_policy(live_server, staff, enrolment_link, new_page,
                                                                     screenshot):
    page = new_page()
    violations: list[str] = []
    page.on("console", lambda message: violations.append(message.text)
            if "Content Security Policy" in message.text or "Refused to" in message.text else None)

    held = "Staff accounts need two-factor sign-in. Set it up to continue."
    sign_in_with_password(page, live_server.url, "chief")
    expect_at(page, "/accounts/security/", heading="Account security", message=held)
    page.goto(f"{live_server.url}/incidents/")
    expect_at(page, "/accounts/security/", heading="Account security", message=held)
    assert page.get_by_role("button", name="E-mail me an enrolment link").is_visible()
    page.goto(live_server.url + enrolment_link)
    expect_at(page, enrolment_link, heading="Set up two-factor sign-in")
    page.get_by_role("button", name="Set up an authenticator app").click()
    expect_at(page, "/accounts/security/", heading="Account security")
    assert page.locator(".qr-code svg").is_visible()
    secret = page.locator("code.secret").inner_text()
    page.get_by_label("Code from the app").fill(current_code(secret))
    page.get_by_role("button", name="Turn on two-factor sign-in").click()
    expect_at(page, "/accounts/security/enrol/confirm/", heading="Account security",
              message="Two-factor sign-in is on. Save your backup codes now.")
    codes = page.locator(".code-list code").all_inner_texts()
    assert len(codes) == 10

    page.get_by_role("button", name="Sign out").click()
    expect_at(page, "/accounts/login/", heading="Sign in")
    sign_in_with_password(page, live_server.url, "chief")
    expect_at(page, "/accounts/login/code/", heading="Enter your code")
    page.get_by_label("Code").fill(codes[0])
    page.get_by_role("button", name="Verify").click()
    expect_at(page, "/", heading="Dashboard")

    for path, heading in PAGES.items():
        address = path.format(user=staff.pk)
        response = page.goto(live_server.url + address)
        assert response is not None and response.status == 200, address
        expect_at(page, address, heading=heading)
    screenshot(page, "admin-audit-log")
    assert violations == []
