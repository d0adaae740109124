"""
How long a SEV1 report takes to answer while the mail server is fast, slow or hanging
(docs/performance.md, "Writes and the mail server"):

    python -m tests.bench.report_latency [--reports 40] [--responders 5] [--delays 0,1,10]

A fresh PostgreSQL database (on BENCH_PG_SERVER, default postgres://root@127.0.0.1:5432),
RESPONDERS staff users who want major-incident mail, and a real SMTP server (aiosmtpd)
on 127.0.0.1 that waits DELAY seconds before it accepts each message (10 s is as long
as EMAIL_TIMEOUT lets a server hang). For each delay a reporter posts REPORTS SEV1
reports through the web form, one after another, in process, and the script prints the
answers' p50, p99 and longest; then a worker sends the queued mail, and it prints how
long that took and how many mails arrived. Releases before the work queue sent the mail
inside the request; run it there to compare (the worker step is skipped).
"""
from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import time
import uuid

import django
import psycopg
from aiosmtpd.controller import Controller


class SlowSink:
    """Accepts every message after `delay` seconds, and counts them."""

    def __init__(self) -> None:
        self.delay, self.received = 0.0, 0

    async def handle_DATA(self, server: object, session: object, envelope: object) -> str:
        await asyncio.sleep(self.delay)
        self.received += 1
        return "250 Message accepted for delivery"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reports", type=int, default=40)
    parser.add_argument("--responders", type=int, default=5)
    parser.add_argument("--delays", default="0,1,10", help="seconds the mail server waits per message")
    args = parser.parse_args()
    server = os.environ.get("BENCH_PG_SERVER", "postgres://root@127.0.0.1:5432")
    name = f"bench_reports_{os.getpid()}"
    with psycopg.connect(f"{server}/postgres", autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name}")
    sink = SlowSink()
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    os.environ.update({
        "DATABASE_URL": f"{server}/{name}", "DEBUG": "false", "SECRET_KEY": "bench-" + "x" * 60,
        "ALLOWED_HOSTS": "testserver", "SECURE_SSL_REDIRECT": "false", "MAIL_SERVER": "127.0.0.1",
        "MAIL_PORT": str(port), "MAIL_USE_TLS": "false", "DJANGO_SETTINGS_MODULE": "incident_tracker.settings",
    })
    django.setup()
    try:
        measure(sink, reports=args.reports, responders=args.responders,
                delays=[float(value) for value in args.delays.split(",")])
    finally:
        controller.stop()
        from django.db import connections

        connections.close_all()
        with psycopg.connect(f"{server}/postgres", autocommit=True) as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {name}")


def measure(sink: SlowSink, *, reports: int, responders: int, delays: list[float]) -> None:
    from django.apps import apps
    from django.core.management import call_command
    from django.test import Client

    from tests.factories import make_user

    call_command("migrate", verbosity=0)
    for number in range(responders):
        make_user(username=f"responder{number}", email=f"responder{number}@example.com", is_staff=True)
    for delay in delays:
        sink.delay, sink.received = delay, 0
        client = Client()
        client.force_login(make_user(username=f"reporter-{delay}", email="reporter@example.com"))
        seconds = []
        for number in range(reports):
            started = time.monotonic()
            response = client.post("/incidents/new/", {
                "title": f"Checkout down {delay} {number}", "description": "Every payment fails.", "severity": 1,
                "submission_token": str(uuid.uuid4())})
            seconds.append(time.monotonic() - started)
            assert response.status_code == 302, response.status_code
        ordered = sorted(seconds)
        p99 = ordered[round(0.99 * (len(ordered) - 1))]
        line = (f"mail server waits {delay:4.1f} s: {reports} SEV1 reports answered in p50 "
                f"{statistics.median(seconds) * 1000:8.1f} ms, p99 {p99 * 1000:8.1f} ms, "
                f"longest {ordered[-1] * 1000:8.1f} ms")
        if apps.is_installed("outbound"):
            from tests.outbound.conftest import run_queue

            started = time.monotonic()
            run_queue()
            line += f"; a worker then sent the mail in {time.monotonic() - started:.1f} s"
        print(f"{line} ({sink.received} of {reports * responders} mails arrived)", flush=True)


if __name__ == "__main__":
    main()
