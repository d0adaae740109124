"""
Workers as production runs them (`manage.py run_worker`, separate processes on the
committed test database): killed mid-delivery they lose nothing, and two of them never
run a task twice.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from django.conf import settings

from incidents.models import Severity
from incidents.services import incident_create
from outbound.models import Event
from outbound.services import event_publish, subscription_create
from tests.processes import database_url, wait_for


def _worker(tmp_path: Path, db_url: str, name: str, *args: str) -> subprocess.Popen:
    env = {**os.environ, "DEBUG": "false", "SECRET_KEY": settings.SECRET_KEY, "DATABASE_URL": db_url,
           "WEBHOOK_ALLOWED_NETWORKS": "127.0.0.0/8", "TASK_LEASE_SECONDS": "2", "LOG_DIR": str(tmp_path / "logs")}
    log = (tmp_path / f"{name}.log").open("w")
    return subprocess.Popen([sys.executable, "manage.py", "run_worker", "--no-startup-delay", "--no-reload",
                             "--interval", "0.1", *args],
                            cwd=settings.BASE_DIR, env=env, stdout=log, stderr=subprocess.STDOUT)


def test_a_worker_killed_mid_delivery_loses_nothing_and_the_delivery_keeps_its_id(
        task_queue, receiver, reporter, responder, tmp_path):
    subscription_create(actor=responder, name="receiver", url=receiver.url, events=[Event.INCIDENT_REPORTED])
    receiver.script = ["hang"]
    incident_create(reporter=reporter, title="Killed", description="mid-delivery", severity=Severity.SEV2)
    db_url = database_url(tmp_path)  # On SQLite the workers share a file copy of the test database.
    first = _worker(tmp_path, db_url, "first")
    try:
        wait_for(lambda: receiver.requests == 1)
        first.send_signal(signal.SIGKILL)
        first.wait(10)
        time.sleep(2.5)  # The dead worker's lease runs out.
        second = _worker(tmp_path, db_url, "second", "--batch")
        assert second.wait(120) == 0, (tmp_path / "second.log").read_text()
    finally:
        first.kill()
    assert len(receiver.received) == 1
    assert receiver.received[0].headers["webhook-id"] == receiver.attempted[0].headers["webhook-id"]
    assert "enqueued again" in (tmp_path / "second.log").read_text()


def test_two_workers_share_two_thousand_tasks_and_run_none_twice(task_queue, receiver, responder, tmp_path):
    subscription = subscription_create(actor=responder, name="receiver", url=receiver.url,
                                       events=[Event.ALERT_RECEIVED])
    for number in range(2000):
        event_publish(Event.ALERT_RECEIVED, {"alert": number}, key=f"alert:{number}")
    assert subscription.deliveries.count() == 2000
    db_url = database_url(tmp_path)
    started = time.monotonic()
    workers = [_worker(tmp_path, db_url, name, "--batch") for name in ("one", "two")]
    for worker in workers:
        assert worker.wait(600) == 0
    elapsed = time.monotonic() - started
    ids = [received.headers["webhook-id"] for received in receiver.received]
    assert len(ids) == 2000 == len(set(ids))
    runs = {name: (tmp_path / f"{name}.log").read_text().count("state=SUCCESSFUL") for name in ("one", "two")}
    assert sum(runs.values()) == 2000
    assert all(count > 0 for count in runs.values()), runs
    print(f"two workers: 2000 webhook deliveries in {elapsed:.1f} s ({2000 / elapsed:.0f}/s), split {runs}")
