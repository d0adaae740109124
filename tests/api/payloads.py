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
