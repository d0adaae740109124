"""The queue's real peers (database queue, SMTP sink, webhook receiver), and a team of two on call."""
from __future__ import annotations

import json
from datetime import date, time

import pytest
from email.header import decode_header, make_header
from django.test import Client

from api.models import AlertIntegration, IntegrationKind
from api.services import integration_create
from incidents.models import Incident
from oncall.models import EscalationPolicy, EscalationRule, EscalationStep, Rotation, RotationMember, Schedule
from tests.api import payloads
from tests.factories import make_user
from tests.outbound.conftest import receiver, run_queue, smtp_sink, task_queue  # noqa: F401  (fixtures shared with outbound)


def schedule_of(name: str, person) -> Schedule:
    schedule = Schedule.objects.create(name=name)
    rotation = Rotation.objects.create(schedule=schedule, name="Weekly", shift="weekly",
                                       starts_on=date(2020, 1, 6), handover=time(9), time_zone="Europe/Paris")
    RotationMember.objects.create(rotation=rotation, user=person)
    return schedule


@pytest.fixture
def team(db):
    """A primary and a secondary schedule, and a SEV1 policy: primary, 5 minutes, secondary, 5 minutes."""
    primary = make_user(username="primary", is_staff=True)
    secondary = make_user(username="secondary", is_staff=True)
    policy = EscalationPolicy.objects.create(name="Production")
    EscalationStep.objects.create(policy=policy, position=0, schedule=schedule_of("Primary", primary), wait_minutes=5)
    EscalationStep.objects.create(policy=policy, position=1, schedule=schedule_of("Secondary", secondary),
                                  wait_minutes=5)
    EscalationRule.objects.create(severity=1, policy=policy)
    return primary, secondary


def alert_sev1() -> Incident:
    _, secret = integration_create(AlertIntegration(name="Prometheus", kind=IntegrationKind.ALERTMANAGER), actor=None)
    response = Client().post("/api/v1/alerts/alertmanager/", data=json.dumps(payloads.firing(severity="critical")),
                             content_type="application/json", headers={"Authorization": f"Bearer {secret}"})
    assert response.status_code == 201
    return Incident.objects.get()


def is_page(message) -> bool:
    return "Page:" in str(make_header(decode_header(message["Subject"])))


def pages_to(sink) -> list[str]:
    return [message["To"] for message in sink.messages if is_page(message)]
