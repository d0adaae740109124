from __future__ import annotations

from zoneinfo import ZoneInfo

import pytest
from django.urls import reverse

from audit.models import Action, AuditLog
from incidents.services import comment_add, incident_create, incident_transition, incident_update
from incidents.templatetags.incidents import changed_fields, status_label
from tests.queries import rendered_page_queries
from tests.factories import make_incident, make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def worked_incident(reporter, responder):
    """An incident taken through each kind of event, in this order."""
    incident, _ = incident_create(reporter=reporter, title="VPN down", description="<p>Since 9:00</p>")
    incident = incident_update(incident, actor=responder, expected_version=incident.version, assignee=responder)
    incident = incident_update(incident, actor=responder, expected_version=incident.version, title="VPN down in Lyon",
                               severity=1)
    incident = incident_transition(incident, actor=responder, name="start")
    comment_add(incident, author=responder, body="<p>Rebooting the concentrator</p>")
    comment_add(incident, author=responder, body="<p>Vendor ticket 4411</p>", internal=True)
    return incident


def timeline_of(client, incident) -> str:
    page = client.get(reverse("incidents:detail", args=[incident.pk])).content.decode()
    return " ".join(page[page.index('id="timeline-title"'):].split())


def test_responder_sees_every_event_in_order_with_the_note_marked(responder_client, worked_incident):
    timeline = timeline_of(responder_client, worked_incident)
    events = [f"User #{worked_incident.reporter_id}</strong> reported this incident", "assigned it to Responder #",
              "edited the title and severity", "changed the status from Open to In progress",
              ">commented</a>", ">internal note</a> <span class=\"badge badge-internal\">Internal</span>"]
    positions = [timeline.index(event) for event in events]
    assert positions == sorted(positions)
    assert timeline.count("timeline-internal") == 1


def test_reporter_sees_their_public_history_but_never_internal_notes(reporter_client, worked_incident):
    timeline = timeline_of(reporter_client, worked_incident)
    assert "changed the status from Open to In progress" in timeline
    assert f"assigned it to Responder #{worked_incident.assignee_id}" in timeline
    assert ">commented</a>" in timeline
    assert "internal note" not in timeline.lower()
    note = worked_incident.comments.get(internal=True)
    assert f"#comment-{note.pk}" not in timeline


def test_selector_keeps_to_the_incident_and_hides_staff_only_rows(worked_incident, reporter, responder):
    other = make_incident(reporter=reporter)
    incident_transition(other, actor=responder, name="start")
    history = AuditLog.objects.for_target("incidents.incident", worked_incident.pk)
    staff_view = list(history.visible_to(responder).values_list("action", flat=True))
    reporter_view = list(history.visible_to(reporter).values_list("action", flat=True))
    assert staff_view == [Action.INCIDENT_REPORTED, Action.INCIDENT_ASSIGNED, Action.INCIDENT_EDITED,
                          Action.INCIDENT_TRANSITIONED, Action.INCIDENT_COMMENTED, Action.INCIDENT_NOTE_ADDED]
    assert reporter_view == staff_view[:-1]


def test_names_in_the_history_are_escaped(responder_client, reporter, responder):
    hostile = make_user(username="<img src=x onerror=alert(1)>", first_name="<script>alert(1)</script>", is_staff=True)
    incident = make_incident(reporter=reporter)
    incident_update(incident, actor=hostile, expected_version=incident.version, assignee=hostile)
    timeline = timeline_of(responder_client, incident)
    assert "<script>alert(1)</script>" not in timeline and "<img src=x" not in timeline
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in timeline


def test_unassigning_and_an_empty_history_read_plainly(
        responder_client, reporter, responder, django_capture_on_commit_callbacks):
    incident = make_incident(reporter=reporter)
    assert "No history recorded yet." in timeline_of(responder_client, incident)
    with django_capture_on_commit_callbacks(execute=True):  # the page shows what was committed since
        incident = incident_update(incident, actor=responder, expected_version=incident.version, assignee=responder)
        incident_update(incident, actor=responder, expected_version=incident.version, assignee=None)
    assert "removed the assignee" in timeline_of(responder_client, incident)


def test_timeline_queries_do_not_grow_with_its_length(responder_client, reporter, responder):
    incident = make_incident(reporter=reporter)
    url = reverse("incidents:detail", args=[incident.pk])
    responder_client.get(url)

    def queries() -> int:
        return rendered_page_queries(responder_client, url, shows="changed the status", table="audit_auditlog")

    incident_transition(incident, actor=responder, name="start")
    with_one = queries()
    for n in range(10):
        incident = incident_transition(incident, actor=responder, name="resolve")
        incident = incident_transition(incident, actor=responder, name="reopen" if n % 2 else "close")
        if n % 2 == 0:
            incident = incident_transition(incident, actor=responder, name="reopen")
        incident = incident_transition(incident, actor=responder, name="start")
    assert AuditLog.objects.for_target("incidents.incident", incident.pk).count() > 20
    assert queries() == with_one


def test_history_written_before_a_field_or_status_was_retired_still_reads():
    assert changed_fields({"title": [], "priority": []}) == "title and priority"
    assert status_label("on_hold") == "on_hold"
    assert status_label("in_progress") == "In progress"


def test_timeline_times_read_like_the_rest_of_the_page(responder_client, responder, worked_incident):
    responder.time_zone = "Europe/Paris"
    responder.save()
    first = AuditLog.objects.for_target("incidents.incident", worked_incident.pk).first()
    assert first is not None
    local = first.created_at.astimezone(ZoneInfo("Europe/Paris"))
    timeline = timeline_of(responder_client, worked_incident)
    assert f'<time datetime="{local.isoformat()}">just now</time>' in timeline
    assert f'<span class="absolute-time">{local.day} {local:%b %Y, %H:%M}</span>' in timeline
