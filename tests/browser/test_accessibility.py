"""
axe-core over the main pages, as a reporter and as a responder, in a desktop window
and a 360 px phone screen: no serious or critical violations, no sideways scrolling
of the page itself, and nothing the Content-Security-Policy had to block.
"""
from __future__ import annotations

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Page, expect

from tests.browser.steps import expect_at
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


def check_pages(page: Page, paths: dict[str, tuple[str, str]], screenshot, *, width: int) -> list[str]:
    """Visit each page (name: path and heading), collect what fails; the test reports every failure at once."""
    problems: list[str] = []
    for name, (path, heading) in paths.items():
        page.goto(path)
        expect_at(page, path, heading=heading)
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
    expect_at(page, "/accounts/login/", heading="Sign in")
    problems = blocking_violations(page)
    screenshot(page, "sign-in")
    page.get_by_role("button", name="Sign in").click()
    expect_at(page, "/accounts/login/", heading="Sign in")
    expect(page.locator(".error-summary")).to_be_visible()
    problems += blocking_violations(page)
    sign_in(page, "riley")
    problems += check_pages(page, {
        "dashboard": ("/", "Dashboard"), "list": ("/incidents/", "Incidents"),
        "detail": (incident.get_absolute_url(), f"#{incident.pk} Printer on floor 3 jams"),
        "report": ("/incidents/new/", "Report an incident"), "security": ("/accounts/security/", "Account security"),
        "preferences": ("/accounts/preferences/", "Preferences"),
    }, screenshot, width=width)
    page.goto("/incidents/new/")
    page.get_by_role("button", name="Report incident").click()
    expect_at(page, "/incidents/new/", heading="Report an incident")
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
    expect_at(page, "/accounts/login/code/", heading="Enter your code")
    problems = blocking_violations(page)
    screenshot(page, "code")
    page.get_by_label("Code").fill(totp_code(device))
    page.get_by_role("button", name="Verify").click()
    expect_at(page, "/", heading="Dashboard")
    problems += check_pages(page, {
        "dashboard": ("/", "Dashboard"), "list": ("/incidents/?severity=1", "Incidents"),
        "detail": (incident.get_absolute_url(), f"#{incident.pk} Core switch down"),
        "edit": (f"{incident.get_absolute_url()}edit/", f"Edit incident #{incident.pk}"),
        "security": ("/accounts/security/", "Account security"),
        "on-call": ("/oncall/", "On call"),
        "empty-list": ("/incidents/?q=nothing+like+this", "Incidents"),
    }, screenshot, width=width)
    assert problems == []
    assert blocked == []
