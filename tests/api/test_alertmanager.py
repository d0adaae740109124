"""
A real Prometheus Alertmanager (Debian's prometheus-alertmanager) delivering to the live
test server: alerts posted to its API become the right incidents, and it counts no
failed notification (alertmanager_notifications_failed_total), for every delivery that
used to be refused: a 12,000-character annotation, 1,500 alerts in one group, a URL
without the slash, basic_auth, and max_alerts: 1 with alerts resolving one by one.

Each test starts its own Alertmanager with its own configuration (groups flushed after a
second) on a port from ALERTMANAGER_PORTS. On PostgreSQL: Alertmanager sends groups in
parallel, which SQLite's shared in-memory test database answers with "table is locked".
Without the binary the tests are skipped, saying so; under CI (CI set) that is an
error, so a green CI run means they ran.
"""
from __future__ import annotations

import json
import os
import subprocess
import urllib.request
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from api.models import AlertDelivery, AlertGroup, AlertIntegration, DeliveryResult
from api.services import integration_create
from incidents.models import Incident, Severity
from incidents.workflow import Status
from tests.incident_tracker.servers import free_ports
from tests.processes import wait_for

pytestmark = [pytest.mark.postgresql, pytest.mark.django_db(transaction=True)]
BINARY = Path("/usr/bin/prometheus-alertmanager")
ALERTMANAGER_PORTS = range(*(int(port) for port in os.environ.get("ALERTMANAGER_PORTS", "9500-9600").split("-")))
WAIT = 60
CONFIG = """
route:
  receiver: bearer
  group_by: [alertname]
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
  routes:
    - {{matchers: ['case="basic_auth"'], receiver: basic_auth}}
    - {{matchers: ['case="no_slash"'], receiver: no_slash}}
    - {{matchers: ['case="max_alerts"'], receiver: max_alerts}}
receivers:
  - name: bearer
    webhook_configs:
      - url: {url}/api/v1/alerts/alertmanager/
        http_config: {{authorization: {{credentials: {secret}}}}}
  - name: basic_auth
    webhook_configs:
      - url: {url}/api/v1/alerts/alertmanager/
        http_config: {{basic_auth: {{username: alertmanager, password: {secret}}}}}
  - name: no_slash
    webhook_configs:
      - url: {url}/api/v1/alerts/alertmanager
        http_config: {{authorization: {{credentials: {secret}}}}}
  - name: max_alerts
    webhook_configs:
      - url: {url}/api/v1/alerts/alertmanager/
        max_alerts: 1
        http_config: {{authorization: {{credentials: {secret}}}}}
"""


class Alertmanager:
    """One Alertmanager process and its HTTP API."""

    def __init__(self, url: str) -> None:
        self.url = url

    def post(self, *alerts: dict) -> None:
        request = urllib.request.Request(f"{self.url}/api/v2/alerts", data=json.dumps(list(alerts)).encode(),
                                         method="POST", headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=30) as response:
            assert response.status == 200

    def counter(self, name: str) -> float:
        with urllib.request.urlopen(f"{self.url}/metrics", timeout=30) as response:
            lines = response.read().decode().splitlines()
        return sum(float(line.rsplit(" ", 1)[1]) for line in lines
                   if line.startswith(f"{name}{{") and 'integration="webhook"' in line)


@pytest.fixture
def start_alertmanager(live_server, tmp_path) -> Iterator[Callable[[str], Alertmanager]]:
    if not BINARY.exists():
        if os.environ.get("CI"):
            pytest.fail(f"no Alertmanager at {BINARY}: CI must run these tests (.ci/run installs it)")
        pytest.skip(f"no Alertmanager at {BINARY}: install it with `apt-get install prometheus-alertmanager` (.ci/run does)")
    processes: list[subprocess.Popen] = []

    def start(secret: str) -> Alertmanager:
        config = tmp_path / "alertmanager.yml"
        config.write_text(CONFIG.format(url=live_server.url, secret=secret))
        [port] = free_ports(1, ALERTMANAGER_PORTS)
        process = subprocess.Popen([
            str(BINARY), f"--config.file={config}", f"--storage.path={tmp_path / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}", f"--web.external-url=http://127.0.0.1:{port}",
            "--cluster.listen-address=", "--log.level=warn",
        ], stdout=subprocess.DEVNULL, stderr=(tmp_path / "alertmanager.log").open("w"))
        processes.append(process)
        alertmanager = Alertmanager(f"http://127.0.0.1:{port}")

        def ready() -> bool:
            assert process.poll() is None, (tmp_path / "alertmanager.log").read_text()
            try:
                with urllib.request.urlopen(f"{alertmanager.url}/-/ready", timeout=2) as response:
                    return response.status == 200
            except OSError:
                return False

        wait_for(ready, timeout=WAIT)
        return alertmanager

    yield start
    for process in processes:
        process.terminate()
        process.wait(timeout=30)


@pytest.fixture
def secret() -> str:
    return integration_create(AlertIntegration(name="Alertmanager", kind="alertmanager"), actor=None)[1]


def alert(name: str, instance: str, *, severity: str = "warning", case: str = "bearer", resolved: bool = False,
          starts: datetime | None = None, **annotations: str) -> dict:
    now = datetime.now(timezone.utc)
    body = {"labels": {"alertname": name, "instance": instance, "severity": severity, "case": case},
            "annotations": {"summary": f"{instance} is failing", **annotations},
            "startsAt": (starts or now - timedelta(minutes=5)).isoformat(),
            "generatorURL": f"http://prometheus.example:9090/graph?instance={instance}"}
    if resolved:
        body["endsAt"] = now.isoformat()
    return body


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


def until(condition: Callable[[], object]) -> None:
    wait_for(lambda: bool(condition()), timeout=WAIT)


def statuses(name: str) -> dict[str, str]:
    group = group_of(name)
    return {entry["name"].split('instance="')[1].split('"')[0]: entry["status"]
            for entry in group.alerts.values()} if group else {}


def test_alerts_become_incidents_that_follow_their_group(start_alertmanager, secret):
    alertmanager = start_alertmanager(secret)
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


def test_deliveries_once_refused_all_get_through(start_alertmanager, secret):
    alertmanager = start_alertmanager(secret)
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
