"""Acknowledging from the incident page and the API: who may, what is recorded, and that paging stops."""
from __future__ import annotations

import pytest
from django.test import Client

from audit.models import Action, AuditLog
from incidents.models import Incident
from incidents.services import incident_acknowledge, incident_create
from oncall.models import Escalation, EscalationPolicy, EscalationRule, EscalationStep
from oncall.services import advance
from tests.api.conftest import token_for
from tests.conftest import signed_in, signed_in_verified
from tests.factories import make_incident

pytestmark = pytest.mark.django_db


@pytest.fixture
def paged_incident(reporter, responder) -> Incident:
    policy = EscalationPolicy.objects.create(name="Everyone")
    EscalationStep.objects.create(policy=policy, target="responders", wait_minutes=5)
    EscalationRule.objects.create(severity=1, policy=policy)
    incident, _ = incident_create(reporter=reporter, title="Checkout down", description="500s", severity=1)
    assert Escalation.objects.get(incident=incident).stopped_at is None
    return incident


def test_the_button_acknowledges_and_stops_the_paging(paged_incident, responder):
    client = signed_in_verified(responder)
    assert "Acknowledge</button>" in client.get(paged_incident.get_absolute_url()).content.decode()
    response = client.post(f"/incidents/{paged_incident.pk}/acknowledge/")
    assert response.status_code == 302
    paged_incident.refresh_from_db()
    assert paged_incident.acknowledged_by == responder and paged_incident.acknowledged_at is not None
    assert Escalation.objects.get().stopped_at is not None
    assert AuditLog.objects.filter(action=Action.INCIDENT_EDITED, changes__acknowledged_by__1=str(responder)).count() == 1
    page = client.get(paged_incident.get_absolute_url()).content.decode()
    assert "Acknowledge</button>" not in page and f"by {responder}" in page


def test_a_reporter_cannot_acknowledge(paged_incident, reporter):
    response = signed_in(reporter).post(f"/incidents/{paged_incident.pk}/acknowledge/")
    assert response.status_code == 403
    paged_incident.refresh_from_db()
    assert paged_incident.acknowledged_at is None and Escalation.objects.get().stopped_at is None


def test_the_api_acknowledges_once_and_answers_the_first_acknowledgement(paged_incident, responder, admin_user):
    api = Client(HTTP_AUTHORIZATION=f"Bearer {token_for(responder)}")
    response = api.post(f"/api/v1/incidents/{paged_incident.pk}/acknowledge/")
    assert response.status_code == 200
    assert response.json()["acknowledged_by"]["id"] == responder.pk
    first = response.json()["acknowledged_at"]
    again = Client(HTTP_AUTHORIZATION=f"Bearer {token_for(admin_user)}").post(
        f"/api/v1/incidents/{paged_incident.pk}/acknowledge/")
    assert again.status_code == 200
    assert again.json()["acknowledged_at"] == first and again.json()["acknowledged_by"]["id"] == responder.pk
    assert Escalation.objects.get().stopped_at is not None


def test_the_api_refuses_reporters_and_unknown_incidents(paged_incident, reporter, responder):
    reporter_api = Client(HTTP_AUTHORIZATION=f"Bearer {token_for(reporter)}")
    assert reporter_api.post(f"/api/v1/incidents/{paged_incident.pk}/acknowledge/").status_code == 403
    other = make_incident(reporter=responder, title="Theirs")
    assert reporter_api.post(f"/api/v1/incidents/{other.pk}/acknowledge/").status_code == 404
    responder_api = Client(HTTP_AUTHORIZATION=f"Bearer {token_for(responder)}")
    assert responder_api.post("/api/v1/incidents/999999/acknowledge/").status_code == 404
    assert Incident.objects.get(pk=paged_incident.pk).acknowledged_at is None


def test_metrics_count_pages_sent_and_unacknowledged(database_queue, paged_incident, responder, settings, client):
    settings.METRICS_TOKEN = "scrape-token"
    advance(Escalation.objects.get().pk, 0)  # Pages every responder: the one fixture responder.
    metrics = client.get("/metrics", HTTP_AUTHORIZATION="Bearer scrape-token").content.decode()
    assert "incident_tracker_oncall_pages_total 1.0" in metrics
    assert "incident_tracker_oncall_unacknowledged_pages 1.0" in metrics
    incident_acknowledge(paged_incident, actor=responder)
    metrics = client.get("/metrics", HTTP_AUTHORIZATION="Bearer scrape-token").content.decode()
    assert "incident_tracker_oncall_pages_total 1.0" in metrics
    assert "incident_tracker_oncall_unacknowledged_pages 0.0" in metrics
