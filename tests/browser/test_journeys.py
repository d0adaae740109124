"""The journeys users make on a bad day, in a real browser."""
from __future__ import annotations

import pytest
from django.core import mail
from playwright.sync_api import Page, expect

from incidents.models import Comment, Incident, Severity
from incidents.workflow import Status
from tests.browser.steps import expect_at
from tests.factories import DEFAULT_PASSWORD, make_category, make_incident, make_totp_device, make_user, totp_code

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def sign_in(page: Page, username: str, *, code: str | None = None) -> None:
    page.goto("/accounts/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(DEFAULT_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    if code is not None:
        expect_at(page, "/accounts/login/code/", heading="Enter your code")
        page.get_by_label("Code").fill(code)
        page.get_by_role("button", name="Verify").click()
    expect_at(page, "/", heading="Dashboard")


def test_reporter_reports_an_incident_and_sees_it(new_page, screenshot):
    make_user(username="riley", first_name="Riley")
    make_category(name="Network")
    page = new_page()
    sign_in(page, "riley")
    page.get_by_role("link", name="Report an incident").first.click()
    expect_at(page, "/incidents/new/", heading="Report an incident")
    page.get_by_label("Title").fill("VPN drops every few minutes")
    page.get_by_label("Description").fill("Since 9:00 the VPN disconnects every 5 minutes on floor 3.")
    page.get_by_label("Category").select_option(label="Network")
    page.get_by_label("Severity").select_option(label="SEV2 – high")
    screenshot(page, "report-form")
    page.get_by_role("button", name="Report incident").click()

    incident = Incident.objects.get()
    expect_at(page, f"/incidents/{incident.pk}/", heading=f"#{incident.pk} VPN drops every few minutes",
              message=f"Incident #{incident.pk} reported. Responders have been told.")
    expect(page.locator(".badges")).to_contain_text("SEV2 – high")
    expect(page.locator(".badges")).to_contain_text("Open")
    screenshot(page, "detail")

    nav = page.get_by_role("navigation", name="Main")
    nav.get_by_role("link", name="Incidents").click()
    expect_at(page, "/incidents/", heading="Incidents")
    expect(page.get_by_role("link", name="VPN drops every few minutes")).to_be_visible()
    nav.get_by_role("link", name="Dashboard").click()
    expect_at(page, "/", heading="Dashboard")
    expect(page.locator("#mine-title + .table-wrap")).to_contain_text("VPN drops every few minutes")
    screenshot(page, "dashboard")


def expect_at_new_comment(page: Page, incident: Incident, *, heading: str, message: str) -> None:
    """Posting a comment lands on the incident, scrolled to the comment it just added."""
    expect(page.get_by_role("status")).to_contain_text(message)
    newest = Comment.objects.filter(incident=incident).latest("pk")
    expect_at(page, f"{incident.get_absolute_url()}#comment-{newest.pk}", heading=heading, message=message)


def test_responder_works_an_incident_and_the_reporter_sees_only_the_public_part(new_page, screenshot):
    reporter = make_user(username="riley", first_name="Riley")
    responder = make_user(username="robin", first_name="Robin", is_staff=True)
    device = make_totp_device(user=responder)
    incident = make_incident(reporter=reporter, title="Payroll site returns 502", severity=Severity.SEV1)

    page = new_page()
    sign_in(page, "robin", code=totp_code(device))
    expect(page.locator("#unassigned-title + .table-wrap")).to_contain_text("Payroll site returns 502")
    page.get_by_role("link", name="Payroll site returns 502").first.click()
    detail, heading = incident.get_absolute_url(), f"#{incident.pk} Payroll site returns 502"
    expect_at(page, detail, heading=heading)
    page.get_by_role("button", name="Assign to me").click()
    expect_at(page, detail, heading=heading, message="The incident is assigned to you.")
    page.get_by_role("button", name="Start work").click()
    expect_at(page, detail, heading=heading, message="Incident is now In progress.")
    expect(page.locator(".badges")).to_contain_text("In progress")

    page.get_by_role("textbox", name="Comment").fill("We restarted the payroll app servers; checking now.")
    page.get_by_role("button", name="Post comment").click()
    expect_at_new_comment(page, incident, heading=heading, message="Comment added.")
    page.get_by_role("textbox", name="Comment").fill("Root cause: the connection pool was exhausted by the nightly export.")
    page.get_by_label("Internal note (responders only)").check()
    page.get_by_role("button", name="Post comment").click()
    expect_at_new_comment(page, incident, heading=heading, message="Internal note added.")
    expect(page.locator(".comment-internal")).to_contain_text("connection pool")

    page.get_by_role("button", name="Resolve").click()
    expect_at(page, detail, heading=heading, message="Incident is now Resolved.")
    expect(page.locator(".badges")).to_contain_text("Resolved")
    expect(page.locator(".timeline")).to_contain_text("changed the status from In progress to Resolved")
    screenshot(page, "responder-detail")

    incident.refresh_from_db()
    assert (incident.status, incident.assignee) == (Status.RESOLVED, responder)
    assert list(Comment.objects.filter(incident=incident).values_list("internal", flat=True)) == [False, True]

    reporter_page = new_page()
    sign_in(reporter_page, "riley")
    reporter_page.goto(detail)
    expect_at(reporter_page, detail, heading=heading)
    expect(reporter_page.locator(".badges")).to_contain_text("Resolved")
    expect(reporter_page.get_by_text("We restarted the payroll app servers")).to_be_visible()
    expect(reporter_page.get_by_text("connection pool")).to_have_count(0)
    expect(reporter_page.get_by_text("Internal note")).to_have_count(0)
    screenshot(reporter_page, "reporter-detail")

    to_reporter = [message for message in mail.outbox if message.to == [reporter.email]]
    assert [message.subject for message in to_reporter] == [
        f"[Incident #{incident.pk}] Status changed",
        f"[Incident #{incident.pk}] New comment",
        f"[Incident #{incident.pk}] Status changed",
    ]
    assert not any("connection pool" in message.body for message in mail.outbox)
