"""
A real Prometheus Alertmanager (Debian's prometheus-alertmanager) that delivers to the
live test server: each test starts its own, with its own configuration (groups flushed
after a second), on a port from ALERTMANAGER_PORTS. Without the binary the tests are
skipped, saying so; under CI (CI set) that is an error, so a green CI run means they ran.
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

from api.models import AlertIntegration
from api.services import integration_create
from tests.incident_tracker.servers import free_ports
from tests.processes import wait_for

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
def integration_secret() -> str:
    """The bearer secret of a new Alertmanager integration, which the started Alertmanager sends."""
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


def until(condition: Callable[[], object]) -> None:
    wait_for(lambda: bool(condition()), timeout=WAIT)
