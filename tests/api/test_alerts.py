"""
Alert ingestion: Alertmanager's own payloads open one incident per group, repeats count
on it, `resolved` comments and resolves, retries change nothing, and every refusal is a
clear 4xx. The integration's service account is the audited actor.
"""
from __future__ import annotations

import json
from datetime import timedelta

import pytest
import time_machine
from django.core import mail
from django.test import Client
from django.utils import timezone

from api.models import AlertGroup, AlertIntegration, IntegrationKind
from api.services import integration_authenticate, integration_create, integration_save, integration_secret_rotate
from audit.models import Action, AuditLog
from incidents.models import Comment, Incident, Severity
from incidents.workflow import Status
from tests.api import payloads
from tests.factories import make_category, make_user

pytestmark = pytest.mark.django_db
ALERTMANAGER = "/api/v1/alerts/alertmanager/"
GENERIC = "/api/v1/alerts/generic/"


def new_integration(kind: str = IntegrationKind.ALERTMANAGER, **fields) -> tuple[AlertIntegration, str]:
    return integration_create(AlertIntegration(name=fields.pop("name", "Prometheus"), kind=kind, **fields), actor=None)


@pytest.fixture
def prometheus() -> tuple[AlertIntegration, str]:
    return new_integration()


def deliver(secret: str, body: object, path: str = ALERTMANAGER):
    return Client().post(path, data=json.dumps(body), content_type="application/json",
                         headers={"Authorization": f"Bearer {secret}"})


def test_a_firing_group_opens_one_incident_reported_by_the_integration(prometheus):
    integration, secret = prometheus
    response = deliver(secret, payloads.firing(severity="critical"))
    assert response.status_code == 201
    assert response.json() == {"result": "created", "incident": Incident.objects.get().pk, "notifications": 1}
    incident = Incident.objects.get()
    assert incident.title == "TestAlert: Test summary" and incident.severity == Severity.SEV1
    assert incident.reporter == integration.account and incident.status == Status.OPEN
    assert "alertname: TestAlert" in incident.description and "http://generator.url" not in incident.title
    row = AuditLog.objects.get(action=Action.INCIDENT_REPORTED)
    assert row.actor_id == integration.account.pk and row.via == "alert integration “Prometheus”"


def test_sev1_alerts_mail_the_responders(prometheus, django_capture_on_commit_callbacks):
    make_user(username="oncall", is_staff=True)
    with django_capture_on_commit_callbacks(execute=True):
        deliver(prometheus[1], payloads.firing(severity="critical"))
    assert [message.to for message in mail.outbox] == [["oncall@example.com"]]


def test_repeats_count_on_the_same_incident_and_its_timeline(prometheus):
    secret = prometheus[1]
    deliver(secret, payloads.firing())
    with time_machine.travel(timezone.now() + timedelta(hours=4)):
        response = deliver(secret, payloads.firing())
    assert response.status_code == 200 and response.json()["result"] == "repeated"
    deliver(secret, payloads.firing(starts_at="2020-01-01T00:05:00Z"))
    group = AlertGroup.objects.get()
    assert Incident.objects.count() == 1 and group.notifications == 3
    rows = AuditLog.objects.filter(action=Action.ALERT_REPEATED).in_chain_order()
    assert [row.changes["notifications"] for row in rows] == [[1, 2], [2, 3]]


def test_the_same_body_again_soon_is_a_retry_that_changes_nothing(prometheus):
    secret = prometheus[1]
    first = deliver(secret, payloads.firing())
    second = deliver(secret, payloads.firing())
    assert second.status_code == 200
    assert second.json() == {**first.json(), "result": "retried"}
    assert AlertGroup.objects.get().notifications == 1
    assert not AuditLog.objects.filter(action=Action.ALERT_REPEATED).exists()


def test_resolved_comments_and_resolves_then_a_new_firing_opens_a_new_incident(prometheus):
    integration, secret = prometheus
    deliver(secret, payloads.firing())
    response = deliver(secret, payloads.resolved())
    assert response.json()["result"] == "resolved"
    incident = Incident.objects.get()
    assert incident.status == Status.RESOLVED and incident.resolved_at is not None
    # Straight from Open: nobody acknowledged it, so time to acknowledge stays unmeasured.
    assert incident.acknowledged_at is None
    assert "resolved" in Comment.objects.get(incident=incident).body
    row = AuditLog.objects.get(action=Action.INCIDENT_TRANSITIONED, actor_id=integration.account.pk)
    assert row.changes["status"] == [Status.OPEN, Status.RESOLVED]
    assert deliver(secret, payloads.resolved()).json()["result"] == "retried"
    assert deliver(secret, payloads.firing()).status_code == 201
    assert Incident.objects.count() == 2 and AlertGroup.objects.filter(is_open=True).count() == 1


def test_resolved_only_comments_when_the_integration_says_so(prometheus):
    integration, secret = prometheus
    integration.resolve_on_resolved = False
    integration_save(integration, actor=None)
    deliver(secret, payloads.firing())
    deliver(secret, payloads.resolved())
    incident = Incident.objects.get()
    assert incident.status == Status.OPEN and Comment.objects.count() == 1
    assert AuditLog.objects.get(action=Action.ALERT_INTEGRATION_CHANGED).changes == {"resolve_on_resolved": [True, False]}


def test_a_group_whose_incident_people_resolved_opens_a_new_incident(prometheus, responder):
    secret = prometheus[1]
    deliver(secret, payloads.firing())
    Incident.objects.update(status=Status.CLOSED, resolved_at=timezone.now(), closed_at=timezone.now())
    assert deliver(secret, payloads.firing(starts_at="2020-01-02T00:00:00Z")).status_code == 201
    assert Incident.objects.count() == 2


def test_resolved_for_an_unknown_group_is_ignored(prometheus):
    response = deliver(prometheus[1], payloads.resolved())
    assert response.json() == {"result": "ignored", "incident": None, "notifications": None}
    assert not Incident.objects.exists()


def test_groups_are_kept_apart_by_key_and_by_integration(prometheus):
    other_integration, other_secret = new_integration(name="Staging")
    deliver(prometheus[1], payloads.firing(group_key='{}:{alertname="a"}'))
    deliver(prometheus[1], payloads.firing(group_key='{}:{alertname="b"}'))
    deliver(other_secret, payloads.firing(group_key='{}:{alertname="a"}'))
    assert Incident.objects.count() == 3


def test_label_text_is_cleaned_like_titles(prometheus):
    body = payloads.firing(alertname="<script>alert(1)</script>Disk")
    body["commonLabels"]["alertname"] = "<img src=x onerror=alert(1)>Disk full"
    deliver(prometheus[1], body)
    incident = Incident.objects.get()
    assert "<" not in incident.title and incident.title.startswith("Disk full")
    assert "<script>" not in incident.description and "&lt;script&gt;" in incident.description


def test_unmapped_severity_gets_the_default_and_a_default_category_is_used(prometheus):
    category = make_category(name="Monitoring")
    integration, secret = new_integration(name="Infra", default_category=category, default_severity=Severity.SEV2)
    deliver(secret, payloads.firing(severity="page-someone"))
    incident = Incident.objects.get()
    assert (incident.severity, incident.category) == (Severity.SEV2, category)


@pytest.mark.parametrize("mutate, field", [
    (lambda body: body.update(version="3"), "version"),
    (lambda body: body.update(alerts=[]), "alerts"),
    (lambda body: body.pop("groupKey"), "groupKey"),
    (lambda body: body.update(status="exploding"), "status"),
    (lambda body: body["alerts"][0].update(labels={"a": {"nested": 1}}), "alerts.0.labels.a"),
])
def test_malformed_alertmanager_bodies_get_400_and_change_nothing(prometheus, mutate, field):
    body = payloads.firing()
    mutate(body)
    response = deliver(prometheus[1], body)
    assert response.status_code == 400 and response["Content-Type"] == "application/problem+json"
    assert field in response.json()["errors"]
    assert not Incident.objects.exists() and not AlertGroup.objects.exists()


def test_bodies_over_the_cap_get_413(prometheus, settings):
    settings.ALERT_MAX_BODY_BYTES = 2000
    body = payloads.firing()
    body["commonAnnotations"]["description"] = "x" * 3000
    response = deliver(prometheus[1], body)
    assert response.status_code == 413 and response["Content-Type"] == "application/problem+json"
    # RFC 9110's name, on every Python (3.11 and 3.12 call it "Request Entity Too Large").
    assert response.json()["title"] == "Content Too Large"
    assert not Incident.objects.exists()


def test_alerts_need_the_integration_secret(prometheus, reporter):
    from tests.api.conftest import token_for

    assert deliver("ita_wrong", payloads.firing()).status_code == 401
    assert deliver(token_for(reporter), payloads.firing()).status_code == 401
    assert Client().post(ALERTMANAGER, data="{}", content_type="application/json").status_code == 401
    integration, secret = prometheus
    integration.is_active = False
    integration_save(integration, actor=None)
    assert deliver(secret, payloads.firing()).status_code == 401
    assert not Incident.objects.exists()


def test_an_integration_posts_only_its_own_format(prometheus):
    generic, generic_secret = new_integration(kind=IntegrationKind.GENERIC, name="Uptime")
    assert deliver(generic_secret, payloads.firing()).status_code == 403
    assert deliver(prometheus[1], {"source": "x"}, path=GENERIC).status_code == 403


def test_rotating_the_secret_retires_the_old_one(prometheus):
    integration, old = prometheus
    new = integration_secret_rotate(integration, actor=None)
    assert integration_authenticate(old) is None and integration_authenticate(new) == integration
    assert old not in json.dumps([row.content() for row in AuditLog.objects.all()])


def test_the_service_account_cannot_sign_in(prometheus):
    account = prometheus[0].account
    assert account.is_service_account and not account.has_usable_password() and not account.is_staff
    assert not account.check_password("")


GENERIC_BODY = {"source": "uptime", "fingerprint": "web-1-down", "title": "web-1 is down",
                "description": "No answer on :443", "severity": "critical", "status": "firing"}


def test_generic_alerts_deduplicate_by_fingerprint_and_resolve():
    _, secret = new_integration(kind=IntegrationKind.GENERIC, name="Uptime")
    assert deliver(secret, GENERIC_BODY, path=GENERIC).status_code == 201
    with time_machine.travel(timezone.now() + timedelta(minutes=10)):
        assert deliver(secret, GENERIC_BODY, path=GENERIC).json()["result"] == "repeated"
    assert deliver(secret, {**GENERIC_BODY, "status": "resolved"}, path=GENERIC).json()["result"] == "resolved"
    incident = Incident.objects.get()
    assert (incident.title, incident.severity, incident.status) == ("web-1 is down", Severity.SEV1, Status.RESOLVED)


def test_generic_alerts_refuse_unknown_fields():
    _, secret = new_integration(kind=IntegrationKind.GENERIC, name="Uptime")
    response = deliver(secret, {**GENERIC_BODY, "priority": "p1"}, path=GENERIC)
    assert response.status_code == 400 and set(response.json()["errors"]) == {"priority"}


def test_the_incident_page_shows_repeats_and_the_channel(prometheus, otp_client, responder):
    secret = prometheus[1]
    deliver(secret, payloads.firing())
    deliver(secret, payloads.firing(starts_at="2020-01-01T00:05:00Z"))
    page = otp_client(responder).get(Incident.objects.get().get_absolute_url()).content.decode()
    assert "sent the alert again (2 notifications so far)" in page
    assert "(via alert integration “Prometheus”)" in page
