"""An accepted alert delivery tells webhook subscribers (alert.received), once per delivery, with the incident."""
from __future__ import annotations

import pytest

from api.models import AlertIntegration, IntegrationKind
from api.services import integration_create
from outbound.models import Delivery, Event
from outbound.services import subscription_create
from tests.api import payloads
from tests.api.test_alerts import deliver
from tests.factories import make_user

pytestmark = pytest.mark.django_db


def test_each_accepted_alert_delivery_queues_one_alert_received_event_with_its_incident(database_queue):
    responder = make_user(username="robin", first_name="Robin", is_staff=True)
    subscription = subscription_create(actor=responder, name="bot", url="https://bot.example.com/hooks",
                                       events=[Event.ALERT_RECEIVED])
    integration, secret = integration_create(AlertIntegration(name="prometheus", kind=IntegrationKind.ALERTMANAGER),
                                             actor=None)
    assert deliver(secret, payloads.firing(severity="critical")).status_code == 201
    assert deliver(secret, payloads.firing(severity="critical", starts_at="2020-01-01T00:05:00Z")).status_code == 200
    events = list(Delivery.objects.filter(subscription=subscription).order_by("pk"))
    assert [event.event for event in events] == ["alert.received", "alert.received"]
    data = events[0].payload["data"]
    assert data["integration"]["name"] == "prometheus"
    assert data["alert_group"]["firing"] is True
    assert data["incident"]["severity"] == 1
    assert data["incident"]["reporter"]["name"] == str(integration.account)
    assert [event.payload["data"]["result"] for event in events] == ["created", "repeated"]
