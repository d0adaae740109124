"""
Deliveries a real sender makes are accepted whatever their size or shape, stored in the
integration's delivery log, and the incident follows its alert group: alerts joining
and leaving, severity rising, resolved only when nothing of the group may still fire.
"""
from __future__ import annotations

import base64
import json
from datetime import timedelta

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from api.grouping import ALERTS_IN_FULL
from api.models import AlertDelivery, AlertGroup, AlertIntegration, DeliveryResult, IntegrationKind
from api.services import integration_create, integration_save
from audit.models import Action, AuditLog
from incidents.models import Incident, Severity
from incidents.services import incident_transition
from incidents.workflow import Status
from tests.api import payloads
from tests.api.test_alerts import ALERTMANAGER, deliver

pytestmark = pytest.mark.django_db
FIRING, RESOLVED = "firing", "resolved"


@pytest.fixture
def prometheus() -> tuple[AlertIntegration, str]:
    return integration_create(AlertIntegration(name="Prometheus", kind=IntegrationKind.ALERTMANAGER), actor=None)


def changed(integration: AlertIntegration, **fields) -> AlertIntegration:
    for name, value in fields.items():
        setattr(integration, name, value)
    return integration_save(integration, actor=None)


def timeline(responder_client, incident: Incident) -> str:
    return responder_client.get(incident.get_absolute_url()).content.decode()


# --- Every shape a sender makes is accepted -------------------------------------------


def test_a_12000_character_annotation_is_accepted_and_cut_with_the_cut_shown(prometheus):
    body = payloads.firing()
    body["commonAnnotations"]["description"] = "L" * 11_997 + "end"
    response = deliver(prometheus[1], body)
    assert response.status_code == 201
    description = Incident.objects.get().description
    assert "L" * 10_000 + "… [cut: 2,000 of 12,000 characters not kept]" in description and "end" not in description


def test_1500_alerts_in_one_group_open_one_incident_listing_the_first_in_full(prometheus, otp_client, responder):
    body = payloads.group(*[(f"node-{number}", FIRING, "warning") for number in range(1_500)])
    response = deliver(prometheus[1], body)
    assert response.status_code == 201
    group = AlertGroup.objects.get()
    assert len(group.alerts) == 1_500
    assert sum(1 for entry in group.alerts.values() if "labels" in entry) == ALERTS_IN_FULL
    page = timeline(otp_client(responder), Incident.objects.get())
    assert "1500 firing, 0 resolved" in page and "And 1400 more alerts, counted above" in page
    assert "And 1,480 more alerts" in Incident.objects.get().description


def test_a_body_past_djangos_upload_limit_is_accepted_and_one_past_the_cap_refused_and_logged(prometheus, settings):
    integration, secret = prometheus
    body = payloads.firing()
    body["commonAnnotations"]["description"] = "x" * 3_000_000
    assert deliver(secret, body).status_code == 201
    settings.ALERT_MAX_BODY_BYTES = 2_000_000
    response = deliver(secret, payloads.firing(group_key="other") | {"commonAnnotations": {"description": "y" * 2_000_001}})
    assert response.status_code == 413 and "2,000,000 bytes" in response.json()["detail"]
    refused = AlertDelivery.objects.get(result=DeliveryResult.REFUSED)
    assert (refused.integration, refused.status_code) == (integration, 413) and "2,000,000 bytes" in refused.error
    assert Incident.objects.count() == 1


@pytest.mark.parametrize("path", ["/api/v1/alerts/alertmanager", "/api/v1/alerts/alertmanager/"])
def test_the_endpoint_answers_with_and_without_the_slash_without_redirecting(prometheus, path):
    response = deliver(prometheus[1], payloads.firing(), path=path)
    assert response.status_code == 201 and Incident.objects.count() == 1


def test_basic_auth_with_the_secret_as_password_works_beside_bearer(prometheus):
    def basic(user: str, password: str) -> str:
        return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()

    def post(authorization: str):
        return Client().post(ALERTMANAGER, data=json.dumps(payloads.firing()), content_type="application/json",
                             headers={"Authorization": authorization})

    assert post(basic("alertmanager", "ita_wrong")).status_code == 401
    assert post("Basic !!not-base64!!").status_code == 401
    assert not Incident.objects.exists()
    assert post(basic("alertmanager", prometheus[1])).status_code == 201
    assert Incident.objects.count() == 1


@pytest.mark.parametrize("kind", [IntegrationKind.GRAFANA, IntegrationKind.ALERTMANAGER])
def test_grafanas_recorded_webhook_body_opens_and_resolves_an_incident(kind):
    _, secret = integration_create(AlertIntegration(name="Grafana", kind=kind), actor=None)

    def post(body: str):
        return Client().post(ALERTMANAGER, data=body, content_type="application/json",
                             headers={"Authorization": f"Bearer {secret}"})

    assert post(payloads.GRAFANA_FIRING_JSON).status_code == 201
    incident = Incident.objects.get()
    assert incident.title == "alert1" and "ann1: annv1" in incident.description
    assert post(payloads.grafana_resolved_json()).json()["result"] == "resolved"
    incident.refresh_from_db()
    assert incident.status == Status.RESOLVED


def test_malformed_json_is_refused_and_visible_in_the_delivery_log(prometheus, admin_client):
    integration, secret = prometheus
    response = Client().post(ALERTMANAGER, data=b'{"version": "4", ', content_type="application/json",
                             headers={"Authorization": f"Bearer {secret}"})
    assert response.status_code == 400 and "not JSON" in response.json()["detail"]
    page = admin_client.get(reverse("admin:api_alertdelivery_changelist")).content.decode()
    assert "Refused" in page and "not JSON" in page
    counts = admin_client.get(reverse("admin:api_alertintegration_changelist")).content.decode()
    assert '<td class="field-refused">1</td>' in counts


def test_json_nested_past_the_parsers_depth_is_refused_as_malformed(prometheus):
    response = Client().post(ALERTMANAGER, data="[" * 100_000, content_type="application/json",
                             headers={"Authorization": f"Bearer {prometheus[1]}"})
    assert response.status_code == 400 and "nests too deeply" in response.json()["detail"]
    assert AlertDelivery.objects.get().result == DeliveryResult.REFUSED


def test_a_truncated_count_past_what_the_database_holds_is_refused_not_a_server_error(prometheus):
    response = deliver(prometheus[1], payloads.firing() | {"truncatedAlerts": 2**31})
    assert response.status_code == 400 and "truncatedAlerts" in response.json()["errors"]
    assert not Incident.objects.exists()


def test_nul_characters_are_stored_as_replacement_characters(prometheus):
    body = payloads.firing(group_key="{}:{alertname=\"a\x00b\"}")
    body["alerts"][0]["labels"]["note"] = "before\x00after"
    body["externalURL"] = "http://alertmanager:9093/" + "x" * 3_000
    assert deliver(prometheus[1], body).status_code == 201
    group = AlertGroup.objects.get()
    assert "a\ufffdb" in group.key and "before\ufffdafter" in json.dumps(group.alerts, ensure_ascii=False)
    assert len(group.external_url) > 3_000


def test_a_wrong_secret_is_refused_and_logged_for_the_administrator(caplog):
    response = deliver("ita_wrong", payloads.firing())
    assert response.status_code == 401
    assert "alert delivery to /api/v1/alerts/alertmanager/ refused with 401" in caplog.text
    assert not AlertDelivery.objects.exists()


def test_the_delivery_log_counts_each_result(prometheus):
    secret = prometheus[1]
    deliver(secret, payloads.firing())
    deliver(secret, payloads.firing())
    deliver(secret, payloads.resolved())
    deliver(secret, {"version": "4"})
    results = list(AlertDelivery.objects.order_by("pk").values_list("result", "outcome", "status_code"))
    assert results == [(DeliveryResult.ACCEPTED, "created", 201), (DeliveryResult.REPEATED, "retried", 200),
                       (DeliveryResult.RESOLVED, "resolved", 200), (DeliveryResult.REFUSED, "", 400)]


def test_deliveries_older_than_30_days_are_pruned(prometheus, monkeypatch):
    integration, secret = prometheus
    monkeypatch.setattr("api.services.PRUNE_EVERY", 1)
    with time_machine.travel(timezone.now() - timedelta(days=31)):
        deliver(secret, payloads.firing())
    deliver(secret, payloads.firing(group_key="recent"))
    assert list(AlertDelivery.objects.values_list("outcome", flat=True)) == ["created"]
    assert AlertDelivery.objects.get().received_at > timezone.now() - timedelta(minutes=1)


def test_metrics_count_deliveries_by_result(prometheus, settings, django_capture_on_commit_callbacks):
    settings.METRICS_TOKEN = "scrape"
    secret = prometheus[1]

    def scraped() -> str:
        return Client().get("/metrics", headers={"Authorization": "Bearer scrape"}).content.decode()

    def count(result: str) -> float:
        prefix = f'incident_tracker_alert_deliveries_total{{integration="Prometheus",result="{result}"}} '
        return next((float(line[len(prefix):]) for line in scraped().splitlines() if line.startswith(prefix)), 0.0)

    before = {result: count(result) for result in DeliveryResult.values}
    with django_capture_on_commit_callbacks(execute=True):
        deliver(secret, payloads.firing())
        deliver(secret, payloads.firing())
        deliver(secret, {"version": "4"})
    assert {result: count(result) - before[result] for result in DeliveryResult.values} == {
        "accepted": 1.0, "repeated": 1.0, "resolved": 0.0, "refused": 1.0}


# --- The incident follows its group ----------------------------------------------------


def test_alerts_joining_and_leaving_are_named_in_the_timeline(prometheus, otp_client, responder):
    secret = prometheus[1]
    deliver(secret, payloads.group(("web-1", FIRING, "warning")))
    deliver(secret, payloads.group(("web-1", FIRING, "warning"), ("web-2", FIRING, "warning")))
    deliver(secret, payloads.group(("web-1", RESOLVED, "warning"), ("web-2", FIRING, "warning")))
    incident = Incident.objects.get()
    assert incident.status == Status.OPEN
    rows = AuditLog.objects.filter(action=Action.ALERT_REPEATED).in_chain_order()
    assert [row.changes.get("alerts_joined") for row in rows] == [
        [None, ['TestAlert{instance="web-2", severity="warning"}']], None]
    assert rows[1].changes["alerts_left"] == [None, ['TestAlert{instance="web-1", severity="warning"}']]
    page = timeline(otp_client(responder), incident)
    assert "alerts joined: TestAlert{instance=&quot;web-2&quot;" in page
    assert "alerts resolved or gone: TestAlert{instance=&quot;web-1&quot;" in page
    assert "1 firing, 1 resolved" in page


def test_a_resolved_alert_with_others_truncated_does_not_resolve_the_incident(prometheus):
    secret = prometheus[1]
    deliver(secret, payloads.group(("db-1", FIRING, "critical"), truncated=2))
    response = deliver(secret, payloads.group(("db-1", RESOLVED, "critical"), truncated=2))
    assert response.json()["result"] == "repeated"
    assert Incident.objects.get().status == Status.OPEN and AlertGroup.objects.get().is_open
    assert deliver(secret, payloads.group(("db-3", RESOLVED, "critical"))).json()["result"] == "resolved"
    assert Incident.objects.get().status == Status.RESOLVED


def test_a_known_firing_alert_keeps_a_resolved_group_notification_from_resolving(prometheus):
    secret = prometheus[1]
    deliver(secret, payloads.group(("a", FIRING, "warning"), ("b", FIRING, "warning")))
    body = payloads.group(("a", RESOLVED, "warning"), ("b", FIRING, "warning"))
    body["status"] = "resolved"  # as a sender computing the status over part of the group would
    body["truncatedAlerts"] = 1
    deliver(secret, body)
    assert Incident.objects.get().status == Status.OPEN


def test_a_more_severe_alert_raises_the_severity_which_never_falls_by_itself(prometheus, responder):
    integration, secret = prometheus
    deliver(secret, payloads.group(("web-1", FIRING, "warning")))
    incident = Incident.objects.get()
    assert incident.severity == Severity.SEV3
    incident_transition(incident, actor=responder, name="start")
    deliver(secret, payloads.group(("web-1", FIRING, "warning"), ("web-2", FIRING, "critical")))
    incident.refresh_from_db()
    assert incident.severity == Severity.SEV1
    row = AuditLog.objects.get(action=Action.INCIDENT_EDITED)
    assert row.actor_id == integration.account.pk and row.changes["severity"] == ["SEV3 – medium", "SEV1 – critical"]
    deliver(secret, payloads.group(("web-1", FIRING, "warning"), ("web-2", RESOLVED, "critical")))
    incident.refresh_from_db()
    assert incident.severity == Severity.SEV1 and incident.acknowledged_at is not None


def test_links_to_the_generator_and_alertmanager_are_shown_and_only_http_ones(prometheus, otp_client, responder):
    secret = prometheus[1]
    body = payloads.group(("web-1", FIRING, "warning"), ("web-2", FIRING, "warning"))
    body["groupLabels"] = {"alertname": "TestAlert"}
    body["alerts"][1]["generatorURL"] = "javascript:alert(document.cookie)"
    deliver(secret, body)
    page = timeline(otp_client(responder), Incident.objects.get())
    assert 'href="http://prometheus:9090/graph?g0.expr=up%7Binstance%3D%22web-1%22%7D"' in page
    assert 'href="http://localhost:9093/#/alerts?filter=%7Balertname%3D%22TestAlert%22%7D"' in page
    assert "javascript:" not in page


def test_the_alert_list_is_for_staff_only(prometheus, client, reporter):
    deliver(prometheus[1], payloads.group(("web-1", FIRING, "warning")))
    client.force_login(reporter)
    assert client.get(Incident.objects.get().get_absolute_url()).status_code == 404


def test_reopen_within_the_window_reopens_the_incident_and_later_opens_a_new_one(prometheus):
    integration, secret = prometheus
    changed(integration, reopen_within_minutes=30)
    deliver(secret, payloads.firing())
    deliver(secret, payloads.resolved())
    with time_machine.travel(timezone.now() + timedelta(minutes=20)):
        response = deliver(secret, payloads.firing(starts_at="2020-01-01T01:00:00Z"))
    assert response.json()["result"] == "reopened"
    incident = Incident.objects.get()
    assert incident.status == Status.OPEN and incident.resolved_at is None
    deliver(secret, payloads.resolved(starts_at="2020-01-01T01:00:00Z"))
    with time_machine.travel(timezone.now() + timedelta(minutes=31)):
        assert deliver(secret, payloads.firing(starts_at="2020-01-01T02:00:00Z")).status_code == 201
    assert Incident.objects.count() == 2


def test_without_a_reopen_window_a_new_firing_opens_a_new_incident(prometheus):
    secret = prometheus[1]
    deliver(secret, payloads.firing())
    deliver(secret, payloads.resolved())
    assert deliver(secret, payloads.firing(starts_at="2020-01-01T01:00:00Z")).status_code == 201
    assert Incident.objects.count() == 2


# --- Noise controls ----------------------------------------------------------------------


def test_alerts_matching_a_drop_matcher_are_dropped_and_counted(prometheus):
    integration, secret = prometheus
    changed(integration, drop_matchers='alertname="Watchdog"\nseverity=~"none|info"')
    response = deliver(secret, payloads.firing(alertname="Watchdog", group_key="watchdog"))
    assert response.status_code == 200 and response.json()["result"] == "dropped"
    deliver(secret, payloads.group(("web-1", FIRING, "none"), ("web-2", FIRING, "critical")))
    assert Incident.objects.get().severity == Severity.SEV1
    assert list(AlertGroup.objects.get().alerts) == ["fp-web-2"]
    assert list(AlertDelivery.objects.order_by("pk").values_list("outcome", "alerts", "dropped")) == [
        ("dropped", 1, 1), ("created", 2, 1)]


def test_a_bad_drop_matcher_is_refused_with_the_line(prometheus):
    integration = prometheus[0]
    with pytest.raises(ValidationError, match="Line 2 is not a matcher"):
        changed(integration, drop_matchers='alertname="Watchdog"\nseverity is none')
    integration.refresh_from_db()
    assert integration.drop_matchers == ""


def test_past_the_rate_limit_a_delivery_gets_429_with_retry_after_and_is_logged(prometheus):
    integration, secret = prometheus
    changed(integration, rate_limit_per_minute=2)
    assert deliver(secret, payloads.firing()).status_code == 201
    assert deliver(secret, payloads.firing(starts_at="2020-01-01T00:01:00Z")).status_code == 200
    response = deliver(secret, payloads.firing(starts_at="2020-01-01T00:02:00Z"))
    assert response.status_code == 429 and 0 < int(response["Retry-After"]) <= 60
    refused = AlertDelivery.objects.get(result=DeliveryResult.REFUSED)
    assert refused.status_code == 429 and "throttled" in refused.error.lower()
    assert AlertGroup.objects.get().notifications == 2
