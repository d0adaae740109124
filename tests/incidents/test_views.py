from __future__ import annotations

import uuid

import pytest
from django.urls import reverse

from audit.models import Action, AuditLog
from incidents.models import Incident
from incidents.workflow import Status
from tests.factories import make_category, make_comment, make_incident

pytestmark = pytest.mark.django_db


def test_anonymous_visitor_is_sent_to_sign_in_with_next(client, reporter):
    incident = make_incident(reporter=reporter)
    url = reverse("incidents:detail", args=[incident.pk])
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"] == f"{reverse('accounts:login')}?next={url}"


def test_reporter_reports_an_incident_and_finds_it_in_the_list(reporter_client, reporter):
    category = make_category(name="Network")
    response = reporter_client.post(
        reverse("incidents:create"),
        {"title": "VPN down", "description": "Since <b>9:00</b><script>alert(1)</script>", "category": category.pk,
         "severity": 2, "submission_token": str(uuid.uuid4())},
    )
    incident = Incident.objects.get()
    assert response.status_code == 302
    assert response["Location"] == incident.get_absolute_url()
    assert incident.reporter == reporter
    assert "<script>" not in incident.description
    assert AuditLog.objects.filter(action=Action.INCIDENT_REPORTED, target_id=str(incident.pk)).count() == 1
    listing = reporter_client.get(reverse("incidents:list"))
    assert "VPN down" in listing.content.decode()


def test_reporter_gets_404_for_another_reporters_incident_everywhere(reporter_client, other_reporter):
    incident = make_incident(reporter=other_reporter)
    for name in ("detail", "edit"):
        assert reporter_client.get(reverse(f"incidents:{name}", args=[incident.pk])).status_code == 404
    assert reporter_client.post(reverse("incidents:comment", args=[incident.pk]), {"body": "hi"}).status_code == 404
    transition = reverse("incidents:transition", args=[incident.pk, "start"])
    assert reporter_client.post(transition, {"version": 1}).status_code == 404
    incident.refresh_from_db()
    assert incident.status == Status.OPEN
    assert not incident.comments.exists()


def test_responder_takes_incident_through_every_status(responder_client, reporter):
    incident = make_incident(reporter=reporter)
    for name, status in (("start", Status.IN_PROGRESS), ("resolve", Status.RESOLVED), ("close", Status.CLOSED),
                         ("reopen", Status.OPEN)):
        incident.refresh_from_db()
        response = responder_client.post(reverse("incidents:transition", args=[incident.pk, name]),
                                         {"version": incident.version})
        assert response.status_code == 302
        incident.refresh_from_db()
        assert incident.status == status
    assert incident.acknowledged_at is not None
    assert incident.resolved_at is None and incident.closed_at is None


def test_reporter_never_sees_internal_notes(reporter_client, reporter, responder):
    incident = make_incident(reporter=reporter)
    make_comment(incident=incident, author=responder, body="<p>public reply</p>")
    make_comment(incident=incident, author=responder, body="<p>secret note</p>", internal=True)
    page = reporter_client.get(reverse("incidents:detail", args=[incident.pk])).content.decode()
    assert "public reply" in page
    assert "secret note" not in page
