"""
An alert storm against gunicorn as deployed (docs/performance.md, "Alert storm"):

    python -m tests.bench.alert_storm [--incidents N] [--groups 200] [--repeats 10] [--senders 20] [--alerts 1]

1. Migrates a PostgreSQL database and seeds it up to N incidents (tests.bench.run).
2. Adds a new Alertmanager integration and a responder with an API token.
3. Starts gunicorn with gunicorn.conf.py and the production settings.
4. SENDERS threads deliver GROUPS x REPEATS different Alertmanager notifications of
   ALERTS alerts each (each group's notifications differ, so none is a retry) in a
   shuffled order, while two readers page through the API's incident list as the
   responder.
5. Reports the deliveries' and the list's latencies, and checks that no delivery got a
   5xx, that the integration opened exactly one incident per group, that each group
   counted every notification and knows its ALERTS alerts, and that the delivery log
   holds every delivery with none refused. The exit status is 1 if any check fails.
"""
from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import secrets
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import psycopg

from tests.bench.run import (
    DEPLOYED_ENVIRONMENT, HOST, PROXY_HEADERS, ROOT, Stats, log, manage, prepare_data, start_gunicorn,
)

SETUP = """
import json, datetime
from django.utils import timezone
from accounts.models import User
from accounts.services import api_token_create
from api.models import AlertIntegration
from api.services import integration_create
integration, secret = integration_create(AlertIntegration(name=f"storm-{timezone.now():%H%M%S%f}", kind="alertmanager"),
                                         actor=None)
person, _ = User.objects.get_or_create(username="storm-responder", defaults={"is_staff": True})
_, token = api_token_create(person, name="storm", scope="read", second_factor_verified=True,
                            expires_at=timezone.now() + datetime.timedelta(days=1))
print(json.dumps({"integration": integration.pk, "account": integration.account_id, "secret": secret, "token": token}))
"""


def notification(group: int, repeat: int, alerts: int = 1) -> bytes:
    alertname = f"StormAlert{group}"
    members = [{"status": "firing", "labels": {"alertname": alertname, "severity": "warning",
                                               "instance": f"node-{group}-{member}"},
                "annotations": {"summary": f"Storm group {group}"}, "startsAt": f"2026-12-01T00:{repeat:02d}:00Z",
                "endsAt": "0001-01-01T00:00:00Z", "generatorURL": "http://prometheus:9090/graph",
                "fingerprint": f"{group:012x}{member:04x}"} for member in range(alerts)]
    return json.dumps({
        "version": "4", "groupKey": f'{{}}:{{alertname="{alertname}"}}', "truncatedAlerts": 0, "status": "firing",
        "receiver": "incident-tracker", "groupLabels": {"alertname": alertname},
        "commonLabels": {"alertname": alertname, "severity": "warning"},
        "commonAnnotations": members[0]["annotations"], "externalURL": "http://alertmanager:9093", "alerts": members,
    }).encode()


def request(port: int, method: str, path: str, *, token: str, body: bytes | None = None) -> tuple[int, float]:
    started = time.monotonic()
    connection = http.client.HTTPConnection(HOST, port, timeout=60)
    headers = {**PROXY_HEADERS, "Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    connection.request(method, path, body=body, headers=headers)
    response = connection.getresponse()
    response.read()
    connection.close()
    return response.status, time.monotonic() - started


def storm(port: int, secret: str, token: str, options: argparse.Namespace) -> tuple[Stats, Stats, Counter[int]]:
    deliveries = [(group, repeat) for group in range(options.groups) for repeat in range(options.repeats)]
    random.Random(7).shuffle(deliveries)
    sent, listed, statuses = Stats(), Stats(), Counter[int]()
    lock = threading.Lock()
    done = threading.Event()

    def deliver(item: tuple[int, int]) -> None:
        status, seconds = request(port, "POST", "/api/v1/alerts/alertmanager/", token=secret,
                                  body=notification(*item, alerts=options.alerts))
        with lock:
            statuses[status] += 1
            sent.latencies.append(seconds)

    def read() -> None:
        while not done.is_set():
            status, seconds = request(port, "GET", "/api/v1/incidents/?sort=newest", token=token)
            with lock:
                (listed.latencies.append(seconds) if status == 200 else listed.errors.append(str(status)))

    readers = [threading.Thread(target=read) for _ in range(2)]
    for reader in readers:
        reader.start()
    with ThreadPoolExecutor(max_workers=options.senders) as pool:
        list(pool.map(deliver, deliveries))
    done.set()
    for reader in readers:
        reader.join()
    return sent, listed, statuses


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--incidents", type=int, default=100_000)
    parser.add_argument("--groups", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--senders", type=int, default=20)
    parser.add_argument("--alerts", type=int, default=1, help="alerts in each group")
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL", ""))
    parser.add_argument("--port", type=int, default=int(os.environ.get("BENCH_PORT", "8310")))
    options = parser.parse_args()
    url = options.database_url or f"postgres://{HOST}:5432/incident_tracker_bench_{options.incidents}"
    # The readers are one token reading as fast as answers come: far above a person's rate limit.
    env = {**os.environ, **DEPLOYED_ENVIRONMENT, "DJANGO_SETTINGS_MODULE": "incident_tracker.settings",
           "DATABASE_URL": url, "SECRET_KEY": secrets.token_urlsafe(50), "ALLOWED_HOSTS": HOST, "DEBUG": "false",
           "API_RATE_PER_MINUTE": "1000000"}
    prepare_data(url, env, options.incidents, options.incidents // 2)
    manage(env, "collectstatic", "--noinput", "-v0")
    created = json.loads(subprocess.run([sys.executable, str(ROOT / "manage.py"), "shell", "-c", SETUP], env=env, cwd=ROOT,
                                        check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1])
    server = start_gunicorn(env, options.port)
    try:
        started = time.monotonic()
        sent, listed, statuses = storm(options.port, created["secret"], created["token"], options)
        seconds = time.monotonic() - started
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=60)
    with psycopg.connect(url) as connection:
        opened = connection.execute("SELECT count(*) FROM incidents_incident WHERE reporter_id = %s",
                                    [created["account"]]).fetchone()
        incidents = opened[0] if opened else 0
        counts = Counter(row[:2] for row in connection.execute(
            "SELECT notifications, (SELECT count(*) FROM jsonb_object_keys(alerts)) FROM api_alertgroup"
            " WHERE integration_id = %s", [created["integration"]]))
        logged: Counter[str] = Counter(dict(connection.execute(
            "SELECT result, count(*) FROM api_alertdelivery WHERE integration_id = %s GROUP BY result",
            [created["integration"]]).fetchall()))
    total = options.groups * options.repeats
    log(f"\n{total:,} deliveries over {options.groups} groups of {options.alerts} alerts from {options.senders} senders"
        f" in {seconds:.1f} s ({total / seconds:.0f}/s), {options.incidents:,} incidents already in the database")
    log(f"answers: {dict(sorted(statuses.items()))}")
    for name, stats in (("delivery", sent), ("incident list", listed)):
        log(f"{name:<14} p50 {stats.percentile(0.5):6.0f} ms  p95 {stats.percentile(0.95):6.0f} ms"
            f"  p99 {stats.percentile(0.99):6.0f} ms  ({len(stats.latencies)} answers, {len(stats.errors)} errors)")
    log(f"incidents opened: {incidents}; (notifications, alerts) per group: {dict(counts)}")
    log(f"delivery log: {dict(logged)}")
    ok = (not any(status >= 500 for status in statuses) and incidents == options.groups
          and counts == Counter({(options.repeats, options.alerts): options.groups}) and not listed.errors
          and sum(logged.values()) == total and not logged["refused"])
    log("OK" if ok else "FAILED")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
