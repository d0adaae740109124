"""What the list and detail pages show: the parts a user scans and the actions they offer."""
from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import quote

import pytest
from django.urls import reverse
from django.utils import dateformat

from audit.models import Action, AuditLog
from incidents.models import Severity
from incidents.templatetags.incidents import absolute_time
from incidents.workflow import Status
from tests.factories import make_category, make_comment, make_incident

pytestmark = pytest.mark.django_db

LIST = reverse("incidents:list")


def test_list_shows_labelled_badges_assignee_and_both_kinds_of_time(responder_client, reporter, responder):
    make_incident(reporter=reporter, title="Core switch", severity=Severity.SEV1, status=Status.IN_PROGRESS,
                  assignee=responder, created_at=datetime(2026, 1, 15, 9, 30, tzinfo=UTC))
    page = responder_client.get(LIST).content.decode()
    assert '<span class="visually-hidden">Severity </span>SEV1 – critical</span>' in page
    assert '<span class="visually-hidden">Status </span>In progress</span>' in page
    assert f"<td><span class=\"cell-label\">Assignee: </span>Responder #{responder.pk}</td>" in page
    assert '<time datetime="2026-01-15T09:30:00+00:00">' in page
    assert '<span class="absolute-time">15 Jan 2026, 09:30</span>' in page


@pytest.mark.parametrize("month", range(1, 13))
def test_the_exact_time_beside_a_relative_one_reads_as_the_date_filter_writes_it(month):
    for moment in (datetime(2026, month, 1, 0, 5, tzinfo=UTC), datetime(987, month, 28, 23, 59, tzinfo=UTC)):
        assert absolute_time(moment) == dateformat.format(moment, "j M Y, H:i")


def test_filters_stay_in_the_url_and_in_the_form(responder_client, reporter):
    network = make_category(name="Network")
    page = responder_client.get(f"{LIST}?status=open&severity=2&category={network.pk}&q=vpn&sort=oldest")
    form = page.context["filter_form"]
    assert form.cleaned_data["status"] == "open" and form.cleaned_data["severity"] == 2
    html = page.content.decode()
    assert '<option value="open" selected>Open</option>' in html
    assert 'name="q" value="vpn"' in html
    assert '<a href="/incidents/">Clear filters</a>' in html


def test_pagination_links_keep_the_filters(responder_client, reporter):
    for number in range(26):
        make_incident(reporter=reporter, title=f"Disk {number}", severity=Severity.SEV2)
    response = responder_client.get(f"{LIST}?severity=2")
    page = response.content.decode()
    assert "26 incidents match the filters." in page
    next_cursor = response.context["page"].next_cursor
    assert f'href="?severity=2&amp;after={quote(next_cursor)}">Next' in page
    second = responder_client.get(f"{LIST}?severity=2&after={quote(next_cursor)}").content.decode()
    assert 'href="/incidents/?severity=2">First' in second
    assert 'href="?severity=2&amp;before=' in second


def test_empty_list_says_why_and_what_to_do(reporter_client, reporter):
    page = reporter_client.get(LIST).content.decode()
    assert "No incidents yet" in page and "report an incident" in page
    make_incident(reporter=reporter, title="Printer")
    filtered = reporter_client.get(f"{LIST}?q=nothing-like-this").content.decode()
    assert "No incidents match these filters" in filtered and "clear the filters" in filtered


def test_responder_detail_offers_workflow_buttons_and_assign_to_me(responder_client, reporter):
    incident = make_incident(reporter=reporter)
    page = responder_client.get(incident.get_absolute_url()).content.decode()
    assert f'action="{reverse("incidents:transition", args=[incident.pk, "start"])}"' in page
    assert ">Start work</button>" in page
    assert f'action="{reverse("incidents:take", args=[incident.pk])}"' in page
    assert 'name="internal"' in page


def test_reporter_detail_offers_no_responder_actions(reporter_client, reporter, responder):
    incident = make_incident(reporter=reporter)
    make_comment(incident=incident, author=responder, body="Public answer")
    page = reporter_client.get(incident.get_absolute_url()).content.decode()
    assert "Start work" not in page and "Assign to me" not in page and 'name="internal"' not in page
    assert "Edit</a>" in page and "Public answer" in page and "Post comment" in page


def test_internal_note_is_marked_for_responders(responder_client, reporter, responder):
    incident = make_incident(reporter=reporter)
    make_comment(incident=incident, author=responder, body="Check the firewall", internal=True)
    page = responder_client.get(incident.get_absolute_url()).content.decode()
    assert "Internal note · responders only" in page


def test_responder_assigns_an_incident_to_themselves(responder_client, reporter, responder):
    incident = make_incident(reporter=reporter)
    response = responder_client.post(reverse("incidents:take", args=[incident.pk]), {"version": incident.version})
    assert response.status_code == 302
    incident.refresh_from_db()
    assert incident.assignee == responder
    assert AuditLog.objects.filter(action=Action.INCIDENT_ASSIGNED, target_id=str(incident.pk)).count() == 1
    page = responder_client.get(incident.get_absolute_url()).content.decode()
    assert "The incident is assigned to you." in page and "Assign to me" not in page


@pytest.mark.parametrize("version", ["", "0", "abc"])
def test_assign_to_me_from_a_stale_or_broken_page_changes_nothing(responder_client, reporter, version):
    incident = make_incident(reporter=reporter)
    if version == "":
        incident.version = 2
        incident.save()
        version = "1"
    response = responder_client.post(reverse("incidents:take", args=[incident.pk]), {"version": version}, follow=True)
    assert "This incident changed since you loaded the page; nothing was done." in response.content.decode()
    incident.refresh_from_db()
    assert incident.assignee is None


def test_reporter_cannot_assign_even_their_own_incident(reporter_client, reporter, other_client):
    incident = make_incident(reporter=reporter)
    take = reverse("incidents:take", args=[incident.pk])
    assert reporter_client.post(take, {"version": 1}).status_code == 403
    assert other_client.post(take, {"version": 1}).status_code == 404
    assert reporter_client.get(take).status_code == 405
    incident.refresh_from_db()
    assert incident.assignee is None


def test_navigation_marks_the_current_page_and_links_the_account_pages(reporter_client):
    page = reporter_client.get(LIST).content.decode()
    assert '<a href="/incidents/" aria-current="page">Incidents</a>' in page
    assert '<a href="/" aria-current="page">' not in page
    assert 'href="/accounts/preferences/">Preferences</a>' in page and 'href="/accounts/security/">Security</a>' in page
