"""
The queue's real peers (database queue, SMTP sink, webhook receiver, Alertmanager), a
team of two on call, and the pages they are sent.
"""
from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import date, datetime, time, timedelta
from email.header import decode_header, make_header

import pytest
import time_machine
from django.test import Client

from api.models import AlertIntegration, IntegrationKind
from api.services import integration_create
from incidents.models import Incident
from accounts.models import User
from oncall.models import Escalation, EscalationPolicy, EscalationRule, EscalationStep, Rotation, RotationMember, Schedule
from tests.alertmanager import integration_secret, start_alertmanager  # noqa: F401  (the real Alertmanager)
from tests.api import payloads
from tests.conftest import signed_in_verified
from tests.factories import make_user
from tests.outbound.conftest import receiver, run_queue, smtp_sink, task_queue  # noqa: F401  (fixtures shared with outbound)

LINK = re.compile(r"https?://\S+/incidents/acknowledge/\S+/")


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


def link_in(sink, address: str) -> str:
    message = next(m for m in sink.messages if m["To"] == address and is_page(m))
    text = next(part for part in message.walk() if part.get_content_type() == "text/plain").get_payload(decode=True)
    found = LINK.search(text.decode())
    assert found is not None
    return found.group(0)


def page_until_acknowledged(incident: Incident, *, start: datetime, team: tuple[User, User],
                            work_queue: Callable[[], None], sink) -> tuple[Client, str]:
    """
    Run the queue as the minutes pass from `start`: the primary is paged, then at the wait
    the secondary, who opens the mail's link (which changes nothing) and acknowledges at
    minute 6; nobody is paged after that. The secondary's client and the used link.
    """
    primary, secondary = team
    with time_machine.travel(start, tick=False):
        work_queue()
    assert pages_to(sink) == [primary.email]
    with time_machine.travel(start + timedelta(minutes=4, seconds=59), tick=False):
        work_queue()
    assert pages_to(sink) == [primary.email]
    with time_machine.travel(start + timedelta(minutes=5, seconds=1), tick=False):
        work_queue()
    assert pages_to(sink) == [primary.email, secondary.email]

    link = "/" + link_in(sink, secondary.email).split("://", 1)[1].split("/", 1)[1]
    client = signed_in_verified(secondary)
    confirm = client.get(link)
    assert confirm.status_code == 200 and "Acknowledge incident" in confirm.content.decode()
    assert Incident.objects.get(pk=incident.pk).acknowledged_at is None  # Opening the link (a mail scanner) changes nothing.
    with time_machine.travel(start + timedelta(minutes=6), tick=False):
        assert client.post(link).status_code == 302
    incident.refresh_from_db()
    assert incident.acknowledged_by == secondary
    assert incident.acknowledged_at == start + timedelta(minutes=6)
    assert Escalation.objects.get(incident=incident).stop_reason == f"acknowledged by {secondary}"

    for minutes in (10, 15, 60):
        with time_machine.travel(start + timedelta(minutes=minutes), tick=False):
            work_queue()
    assert pages_to(sink) == [primary.email, secondary.email]
    return client, link
