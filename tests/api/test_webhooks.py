"""/api/v1/webhooks/: responders manage subscriptions, audited, with the secret shown once."""
from __future__ import annotations

import json

import pytest

from audit.models import Action, AuditLog
from outbound.models import Delivery, Subscription

pytestmark = pytest.mark.django_db

NEW = {"name": "Status page", "url": "https://status.example.com/hooks", "events": ["incident.reported"]}


def _post(client, path, body):
    return client.post(path, json.dumps(body), content_type="application/json")


def test_a_responder_creates_a_subscription_and_sees_its_secret_once(api_client, responder):
    client = api_client(responder)
    created = _post(client, "/api/v1/webhooks/", NEW)
    assert created.status_code == 201
    secret = created.json()["secret"]
    assert secret.startswith("whsec_")
    assert Subscription.objects.get().secret == secret
    listed = client.get("/api/v1/webhooks/").json()
    assert listed[0]["name"] == "Status page" and "secret" not in listed[0]
    assert "secret" not in client.get(f"/api/v1/webhooks/{created.json()['id']}/").json()
    assert AuditLog.objects.filter(action=Action.WEBHOOK_CREATED, actor_id=responder.pk).exists()


def test_a_reporter_may_not_list_or_create_subscriptions(api_client, reporter):
    client = api_client(reporter)
    assert client.get("/api/v1/webhooks/").status_code == 403
    assert _post(client, "/api/v1/webhooks/", NEW).status_code == 403
    assert not Subscription.objects.exists()


@pytest.mark.parametrize(("body", "field"), [
    ({**NEW, "events": ["incident.deleted"]}, "events"),
    ({**NEW, "events": []}, "events"),
    ({**NEW, "url": "javascript:alert(1)"}, "url"),
    ({**NEW, "format": "irc"}, "format"),
    ({**NEW, "secret": "whsec_mine"}, "secret"),
])
def test_bad_input_is_refused_with_the_field_named_and_nothing_stored(api_client, responder, body, field):
    response = _post(api_client(responder), "/api/v1/webhooks/", body)
    assert response.status_code == 400
    assert any(name.split(".")[0] == field for name in response.json()["errors"])
    assert not Subscription.objects.exists()


def test_a_change_is_audited_and_a_test_event_is_queued_and_listed(api_client, responder, database_queue):
    client = api_client(responder)
    pk = _post(client, "/api/v1/webhooks/", NEW).json()["id"]
    changed = client.patch(f"/api/v1/webhooks/{pk}/", json.dumps({"is_active": False}), content_type="application/json")
    assert changed.status_code == 200 and changed.json()["is_active"] is False
    assert AuditLog.objects.filter(action=Action.WEBHOOK_CHANGED).get().changes == {"is_active": [True, False]}
    queued = client.post(f"/api/v1/webhooks/{pk}/test/")
    assert queued.status_code == 202
    assert queued.json()["event"] == "webhook.test"
    log = client.get(f"/api/v1/webhooks/{pk}/deliveries/").json()
    assert log["total"] == 1 and log["results"][0]["message_id"] == queued.json()["message_id"]
    assert client.delete(f"/api/v1/webhooks/{pk}/").status_code == 204
    assert not Delivery.objects.exists()
    assert AuditLog.objects.filter(action=Action.WEBHOOK_DELETED).exists()


def test_an_unknown_subscription_is_a_404(api_client, responder):
    assert api_client(responder).get("/api/v1/webhooks/999/").status_code == 404
