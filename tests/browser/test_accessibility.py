"""
axe-core over the main pages, as a reporter and as a responder, in a desktop window
and a 360 px phone screen: no serious or critical violations, no sideways scrolling
of the page itself, and nothing the Content-Security-Policy had to block.
"""
from __future__ import annotations

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Page, expect

from tests.browser.test_journeys import sign_in
from tests.factories import make_category, make_comment, make_incident, make_totp_device, make_user, totp_code

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

BLOCKING_IMPACTS = {"serious", "critical"}
PHONE_WIDTH = 360


def blocking_violations(page: Page) -> list[str]:
    results = Axe().run(page)
    return [
        f"{page.url}: {violation['id']} ({violation['impact']}): {violation['help']} "
        f"at {[node['target'] for node in violation['nodes']]}"
        for violation in results.response["violations"]
        if violation["impact"] in BLOCKING_IMPACTS
    ]


def check_pages(page: Page, paths: dict[str, str], screenshot, *, width: int) -> list[str]:
    """Visit each page, collect what fails; the test reports every failure at once."""
    problems: list[str] = []
    for name, path in paths.items():
        page.goto(path)
        expect(page.locator("h1")).to_be_visible()
        problems += blocking_violations(page)
        overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
        if overflow > 0:
            problems.append(f"{path}: the page scrolls sideways by {overflow}px at {width}px")
        screenshot(page, name)
    return problems


def watch_csp(page: Page) -> list[str]:
    blocked: list[str] = []
    page.on("console", lambda message: blocked.append(message.text) if "Content Security Policy" in message.text else None)
    return blocked


@pytest.mark.parametrize("width", [1280, PHONE_WIDTH])
def test_reporter_pages_have_no_serious_accessibility_violations(new_page, screenshot, width):
    reporter = make_user(username="riley", first_name="Riley")
    responder = make_user(username="robin", first_name="Robin", is_staff=True)
    make_category(name="Network")
    incident = make_incident(reporter=reporter, title="Printer on floor 3 jams", assignee=responder)
    make_comment(incident=incident, author=responder, body="<p>A technician is on the way.</p>")
    page = new_page(width=width)
    blocked = watch_csp(page)

    page.goto("/accounts/login/")
    problems = blocking_violations(page)
    screenshot(page, "sign-in")
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator(".error-summary")).to_be_visible()
    problems += blocking_violations(page)
    sign_in(page, "riley")
    problems += check_pages(page, {
        "dashboard": "/", "list": "/incidents/", "detail": incident.get_absolute_url(), "report": "/incidents/new/",
        "security": "/accounts/security/", "preferences": "/accounts/preferences/",
    }, screenshot, width=width)
    page.goto("/incidents/new/")
    page.get_by_role("button", name="Report incident").click()
    expect(page.locator(".error-summary")).to_be_visible()
    problems += blocking_violations(page)
    screenshot(page, "report-errors")
    assert problems == []
    assert blocked == []


@pytest.mark.parametrize("width", [1280, PHONE_WIDTH])
def test_responder_pages_have_no_serious_accessibility_violations(new_page, screenshot, width):
    reporter = make_user(username="riley", first_name="Riley")
    responder = make_user(username="robin", first_name="Robin", is_staff=True)
    device = make_totp_device(user=responder)
    incident = make_incident(reporter=reporter, title="Core switch down", severity=1)
    make_incident(reporter=reporter, title="VPN slow", assignee=responder, status="in_progress")
    make_comment(incident=incident, author=responder, body="<p>Checking the uplink.</p>", internal=True)
    page = new_page(width=width)
    blocked = watch_csp(page)

    page.goto("/accounts/login/")
    page.get_by_label("Username").fill("robin")
    page.get_by_label("Password").fill("correct-horse-battery-staple")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Enter your code")).to_be_visible()
    problems = blocking_violations(page)
    screenshot(page, "code")
    page.get_by_label("Code").fill(totp_code(device))
    page.get_by_role("button", name="Verify").click()
    expect(page.get_by_role("heading", name="Dashboard", level=1)).to_be_visible()
    problems += check_pages(page, {
        "dashboard": "/", "list": "/incidents/?severity=1", "detail": incident.get_absolute_url(),
        "edit": f"{incident.get_absolute_url()}edit/", "security": "/accounts/security/",
        "empty-list": "/incidents/?q=nothing+like+this",
    }, screenshot, width=width)
    assert problems == []
    assert blocked == []
