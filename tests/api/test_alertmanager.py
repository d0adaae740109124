"""
A real Prometheus Alertmanager (Debian's prometheus-alertmanager) delivering to the live
test server: alerts posted to its API become the right incidents, and it counts no
failed notification (alertmanager_notifications_failed_total), for every delivery that
used to be refused: a 12,000-character annotation, 1,500 alerts in one group, a URL
without the slash, basic_auth, and max_alerts: 1 with alerts resolving one by one.

Each test starts its own Alertmanager (tests/alertmanager.py). On PostgreSQL:
Alertmanager sends groups in parallel, which SQLite's shared in-memory test database
answers with "table is locked".
"""
from __future__ import annotations

from datetime import datetime, timezone

import pytest

from api.models import AlertDelivery, AlertGroup, DeliveryResult
from incidents.models import Incident, Severity
from incidents.workflow import Status
from tests.alertmanager import alert, until

pytestmark = [pytest.mark.postgresql, pytest.mark.django_db(transaction=True)]


def group_of(name: str) -> AlertGroup | None:
    return AlertGroup.objects.filter(key__contains=f'alertname="{name}"').select_related("incident").order_by("-pk").first()


def latest(name: str) -> AlertGroup:
    group = group_of(name)
    assert group is not None, f"no group of {name}"
    return group


def incident_of(name: str) -> Incident:
    incident = latest(name).incident
    assert incident is not None
    return incident


def statuses(name: str) -> dict[str, str]:
    group = group_of(name)
    return {entry["name"].split('instance="')[1].split('"')[0]: entry["status"]
            for entry in group.alerts.values()} if group else {}


def test_alerts_become_incidents_that_follow_their_group(start_alertmanager, integration_secret):
    alertmanager = start_alertmanager(integration_secret)
    alertmanager.post(alert("DiskFull", "db-1"), alert("HighLatency", "web-1"))
    until(lambda: statuses("DiskFull") == {"db-1": "firing"} and statuses("HighLatency") == {"web-1": "firing"})
    assert Incident.objects.count() == 2
    assert incident_of("DiskFull").severity == Severity.SEV3 and latest("DiskFull").external_url == alertmanager.url

    alertmanager.post(alert("DiskFull", "db-2", severity="critical"))
    until(lambda: statuses("DiskFull") == {"db-1": "firing", "db-2": "firing"})
    assert incident_of("DiskFull").severity == Severity.SEV1 and Incident.objects.count() == 2

    alertmanager.post(alert("DiskFull", "db-1", resolved=True))
    until(lambda: statuses("DiskFull") == {"db-1": "resolved", "db-2": "firing"})
    assert incident_of("DiskFull").status == Status.OPEN

    alertmanager.post(alert("DiskFull", "db-2", severity="critical", resolved=True))
    until(lambda: incident_of("DiskFull").status == Status.RESOLVED)
    first = incident_of("DiskFull")
    assert first.severity == Severity.SEV1 and first.acknowledged_at is None

    alertmanager.post(alert("DiskFull", "db-1", starts=datetime.now(timezone.utc)))
    until(lambda: incident_of("DiskFull") != first)
    assert incident_of("DiskFull").status == Status.OPEN and Incident.objects.count() == 3
    assert alertmanager.counter("alertmanager_notifications_total") >= 6
    assert alertmanager.counter("alertmanager_notifications_failed_total") == 0


def test_deliveries_once_refused_all_get_through(start_alertmanager, integration_secret):
    alertmanager = start_alertmanager(integration_secret)
    alertmanager.post(
        alert("LogBurst", "app-1", description="x" * 12_000),
        *[alert("NodeDown", f"node-{number:04}") for number in range(1_500)],
        alert("NoSlash", "edge-1", case="no_slash"),
        alert("BasicAuth", "vpn-1", case="basic_auth"),
        *[alert("Replicas", f"db-{number}", case="max_alerts") for number in (1, 2, 3)],
    )
    until(lambda: AlertGroup.objects.count() == 5 and len(statuses("NodeDown")) == 1_500)
    assert "[cut: 2,000 of 12,000 characters not kept]" in incident_of("LogBurst").description
    assert group_of("NoSlash") and group_of("BasicAuth")
    assert statuses("Replicas") == {"db-1": "firing"} and latest("Replicas").truncated_alerts == 2

    # max_alerts: 1 sends the first alert only, and says how many it left out: its
    # resolution is not the group's while the others may still fire.
    for number, left in ((1, 2), (2, 1)):
        alertmanager.post(alert("Replicas", f"db-{number}", case="max_alerts", resolved=True))
        until(lambda: statuses("Replicas").get(f"db-{number}") == "resolved")
        assert latest("Replicas").truncated_alerts == left
        assert incident_of("Replicas").status == Status.OPEN
    alertmanager.post(alert("Replicas", "db-3", case="max_alerts", resolved=True))
    until(lambda: incident_of("Replicas").status == Status.RESOLVED)

    assert not AlertDelivery.objects.filter(result=DeliveryResult.REFUSED).exists()
    assert Incident.objects.count() == 5
    assert alertmanager.counter("alertmanager_notifications_total") >= 8
    assert alertmanager.counter("alertmanager_notifications_failed_total") == 0
