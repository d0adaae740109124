"""
Alertmanager webhook bodies as Alertmanager sends them, copied from its own sources
(prometheus/alertmanager at 68fb2d5759b3a92c0bb2a1a13d4ef7ff5b06256d):
- the version 4 format documented in docs/configuration.md (`<webhook_config>`), with
  every field of template.Data and webhook.Message (notification_reason, routeLabels
  and truncatedAlerts included);
- the alert, group key and receiver of notify/webhook/webhook_test.go
  (TestWebhookDefaultPayload): `{}:{alertname="test1"}`, `test_receiver`, TestAlert.
"""
from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

GROUP_KEY = '{}:{alertname="test1"}'

FIRING: dict[str, Any] = {
    "receiver": "test_receiver",
    "status": "firing",
    "alerts": [
        {
            "status": "firing",
            "labels": {"alertname": "TestAlert"},
            "annotations": {"summary": "Test summary"},
            "startsAt": "2020-01-01T00:00:00Z",
            "endsAt": "2020-01-01T01:00:00Z",
            "generatorURL": "http://generator.url",
            "fingerprint": "7b0a1d7d7e1fcd5d",
        }
    ],
    "notification_reason": "",
    "groupLabels": {},
    "commonLabels": {"alertname": "TestAlert"},
    "commonAnnotations": {"summary": "Test summary"},
    "routeLabels": {},
    "externalURL": "http://localhost:9093",
    "version": "4",
    "groupKey": GROUP_KEY,
    "truncatedAlerts": 0,
}


def firing(*, group_key: str = GROUP_KEY, severity: str | None = None, starts_at: str | None = None,
           **labels: str) -> dict[str, Any]:
    body = copy.deepcopy(FIRING)
    body["groupKey"] = group_key
    alert = body["alerts"][0]
    alert["labels"].update(labels)
    if severity is not None:
        alert["labels"]["severity"] = severity
        body["commonLabels"]["severity"] = severity
    if starts_at is not None:
        alert["startsAt"] = starts_at
    return body


def resolved(**kwargs: Any) -> dict[str, Any]:
    """The same group once every alert in it resolved: Alertmanager sets the group's and each alert's status."""
    body = firing(**kwargs)
    body["status"] = "resolved"
    for alert in body["alerts"]:
        alert["status"] = "resolved"
        alert["endsAt"] = "2020-01-01T00:30:00Z"
    return body


# Grafana Alerting's webhook contact point (payload version 1), the body its default
# payload template renders, as recorded in grafana/alerting's own test
# receivers/webhook/v1/webhook_test.go, TestNotify_CustomPayload, case "Custom payload
# with one alert" (commit 783ce041445f48a1c5d7ec785becb54d57ae7918), kept byte for byte in
# fixtures/grafana_webhook_v1_firing.json.
GRAFANA_FIRING_JSON = (Path(__file__).parent / "fixtures" / "grafana_webhook_v1_firing.json").read_text()


def grafana_resolved_json() -> str:
    """
    The same group resolved, as Grafana sends it (receivers/webhook/v1/webhook.go): every
    alert and the group "resolved", state "ok" instead of "alerting", the title saying so.
    """
    body = json.loads(GRAFANA_FIRING_JSON)
    body.update(status="resolved", state="ok", title="[RESOLVED]  (val1)")
    for alert in body["alerts"]:
        alert.update(status="resolved", endsAt="2026-12-01T00:10:00Z")
    return json.dumps(body)


def group(*alerts: tuple[str, str, str], truncated: int = 0, group_key: str = GROUP_KEY) -> dict[str, Any]:
    """
    A group of alerts `(instance, status, severity)` of one alertname, as Alertmanager
    sends it: the group fires while any sent alert fires.
    """
    body = copy.deepcopy(FIRING)
    body.update(groupKey=group_key, truncatedAlerts=truncated, commonLabels={"alertname": "TestAlert"},
                status="firing" if any(status == "firing" for _, status, _ in alerts) else "resolved")
    body["alerts"] = [{
        "status": status, "labels": {"alertname": "TestAlert", "instance": instance, "severity": severity},
        "annotations": {"summary": f"{instance} is down"}, "startsAt": "2020-01-01T00:00:00Z",
        "endsAt": "2020-01-01T00:30:00Z" if status == "resolved" else "0001-01-01T00:00:00Z",
        "generatorURL": f"http://prometheus:9090/graph?g0.expr=up%7Binstance%3D%22{instance}%22%7D",
        "fingerprint": f"fp-{instance}",
    } for instance, status, severity in alerts]
    return body
