"""
The back office at scale: how long the admin's lists and forms take on a large database,
one request at a time (docs/performance.md).

    python -m tests.bench.admin --database-url postgres://127.0.0.1:5432/<db> [--repeat 5]

It runs in this process with Django's test Client and the product's settings (DEBUG off,
the production defaults; tests/bench/settings.py adds only a query count), against a
database that is already migrated and seeded (`make bench` makes one), after collecting
the static files as a deployment does. It keeps one thing there: a superuser
`bench-admin` with a confirmed authenticator, created when missing. The sign-in and
every request then run in one transaction that is rolled back, so the session, the
sign-in's audit row and anything else a request writes leave nothing behind.

For each address: the incident, comment and audit lists unfiltered, filtered and
searched, and the incident and comment forms, it requests the address once to warm up,
then `--repeat` times, and prints the median and slowest of those in milliseconds, the
first request's time, and the queries each request ran.
"""
from __future__ import annotations

import argparse
import os
import secrets
import statistics
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

BENCH_USERNAME = "bench-admin"
# Words of the seeded text ("VPN" is in one title in thirty), and one in none of it:
# a search that finds nothing must not read every row to be sure.
COMMON_WORD = "vpn"
RARE_WORD = "zeppelin"
TARGET_MS = 300


@dataclass
class Timing:
    name: str
    path: str
    first_ms: float = 0.0
    times_ms: list[float] = field(default_factory=list)
    queries: int = 0
    status: int = 0

    @property
    def median_ms(self) -> float:
        return statistics.median(self.times_ms)

    @property
    def max_ms(self) -> float:
        return max(self.times_ms)


def configure(database_url: str) -> None:
    """
    The benchmark's settings (the product's, plus a header that counts each request's
    queries) on the given database; only what a bench machine lacks is filled in.
    """
    os.environ["DATABASE_URL"] = database_url
    os.environ["DJANGO_SETTINGS_MODULE"] = "tests.bench.settings"
    os.environ["DEBUG"] = "false"
    os.environ.setdefault("SECRET_KEY", secrets.token_urlsafe(50))
    # The test Client's host name; nothing listens anywhere.
    os.environ["ALLOWED_HOSTS"] = "testserver"
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    import django
    from django.core.management import call_command

    django.setup()
    # The pages name hashed static files, as in production (whitenoise's manifest).
    call_command("collectstatic", interactive=False, verbosity=0)


def addresses() -> list[tuple[str, str]]:
    """(name, path) of each page measured, with ids and dates taken from the database."""
    from django.urls import reverse
    from django.utils import timezone

    from audit.models import Action
    from incidents.models import Category, Comment, Severity
    from incidents.workflow import Status

    def changelist(model: str, **query: str) -> str:
        return reverse(f"admin:{model}_changelist") + (f"?{urlencode(query)}" if query else "")

    # The admin's "Past 7 days": midnights in the current time zone.
    today = timezone.localtime().replace(hour=0, minute=0, second=0, microsecond=0)
    past_week = {"created_at__gte": str(today - timedelta(days=7)), "created_at__lt": str(today + timedelta(days=1))}
    category = Category.objects.order_by("pk").values_list("pk", flat=True).first()
    comment = Comment.objects.order_by("-pk").values_list("pk", "incident_id").first()
    if category is None or comment is None:
        raise SystemExit("The database holds no seeded incidents and comments: run `manage.py seed --incidents N` first.")
    pages = [
        ("incidents", changelist("incidents_incident")),
        ("incidents, page 50", changelist("incidents_incident", p="50")),
        ("incidents, status open", changelist("incidents_incident", status__exact=Status.OPEN)),
        ("incidents, SEV1", changelist("incidents_incident", severity__exact=str(Severity.SEV1.value))),
        ("incidents, category", changelist("incidents_incident", category__id__exact=str(category))),
        ("incidents, past 7 days", changelist("incidents_incident", **past_week)),
        ("incidents, open SEV1 in a category", changelist(
            "incidents_incident", status__exact=Status.OPEN, severity__exact="1", category__id__exact=str(category))),
        (f"incidents, search {COMMON_WORD!r}", changelist("incidents_incident", q=COMMON_WORD)),
        (f"incidents, search {RARE_WORD!r}", changelist("incidents_incident", q=RARE_WORD)),
        (f"incidents, open, search {COMMON_WORD!r}",
         changelist("incidents_incident", q=COMMON_WORD, status__exact=Status.OPEN)),
        ("incident form", reverse("admin:incidents_incident_change", args=[comment[1]])),
        ("comments", changelist("incidents_comment")),
        ("comments, internal", changelist("incidents_comment", internal__exact="1")),
        ("comments, past 7 days", changelist("incidents_comment", **past_week)),
        ("comments, search 'certificate'", changelist("incidents_comment", q="certificate")),
        (f"comments, search {COMMON_WORD!r}", changelist("incidents_comment", q=COMMON_WORD)),
        (f"comments, search {RARE_WORD!r}", changelist("incidents_comment", q=RARE_WORD)),
        ("comment form", reverse("admin:incidents_comment_change", args=[comment[0]])),
        ("audit log", changelist("audit_auditlog")),
        ("audit log, sign-ins", changelist("audit_auditlog", action__exact=Action.SIGNED_IN)),
        ("audit log, incidents", changelist("audit_auditlog", target_type="incidents.incident")),
        ("audit log, past 7 days", changelist("audit_auditlog", **past_week)),
        (f"audit log, search {BENCH_USERNAME!r}", changelist("audit_auditlog", q=BENCH_USERNAME)),
        (f"audit log, search {RARE_WORD!r}", changelist("audit_auditlog", q=RARE_WORD)),
    ]
    return pages


def bench_admin() -> Any:
    """The benchmark's administrator and a confirmed authenticator, created once and then reused."""
    from django.contrib.auth import get_user_model
    from django_otp.plugins.otp_totp.models import TOTPDevice

    user, created = get_user_model().objects.get_or_create(
        username=BENCH_USERNAME, defaults={"email": "bench-admin@example.com", "is_staff": True, "is_superuser": True})
    if created:
        user.set_unusable_password()
        user.save(update_fields=["password"])
    if not TOTPDevice.objects.filter(user=user, confirmed=True).exists():
        TOTPDevice.objects.create(user=user, name="bench", confirmed=True)
    return user


@contextmanager
def rolled_back() -> Iterator[None]:
    """A transaction that is always rolled back."""
    from django.db import transaction

    with transaction.atomic():
        yield
        transaction.set_rollback(True)


def signed_in_client(user: Any) -> Any:
    """A client signed in as `user`, with the second factor verified, as the product's sign-in leaves it."""
    from django.test import Client
    from django_otp import DEVICE_ID_SESSION_KEY
    from django_otp.plugins.otp_totp.models import TOTPDevice

    client = Client()
    client.force_login(user)
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = TOTPDevice.objects.filter(user=user, confirmed=True).first().persistent_id
    session.save()
    return client


def timed(client: Any, path: str) -> tuple[float, int, int]:
    """Milliseconds, queries and status of one GET, rendered in full."""
    from tests.bench.middleware import QUERY_COUNT_HEADER

    started = time.perf_counter()
    response = client.get(path, secure=True)
    elapsed = (time.perf_counter() - started) * 1000
    return elapsed, int(response[QUERY_COUNT_HEADER]), response.status_code


def measure(client: Any, name: str, path: str, repeat: int) -> Timing:
    timing = Timing(name, path)
    timing.first_ms, timing.queries, timing.status = timed(client, path)
    for _ in range(repeat):
        elapsed, timing.queries, timing.status = timed(client, path)
        timing.times_ms.append(elapsed)
    return timing


def report(timings: list[Timing], database: str) -> None:
    from incidents.models import Comment, Incident

    print(f"Admin, one request at a time, on {database}: about {Incident.objects.count():,} incidents, "
          f"{Comment.objects.count():,} comments. Milliseconds; the first request warms up and is not in "
          f"the median or max.")
    width = max(len(timing.name) for timing in timings)
    print(f"| {'page':<{width}} | median | max | first | queries | status |")
    print(f"| {'-' * width} | ---: | ---: | ---: | ---: | ---: |")
    for t in timings:
        mark = "" if t.status == 200 and t.max_ms < TARGET_MS else " !"
        print(f"| {t.name:<{width}} | {t.median_ms:.0f} | {t.max_ms:.0f}{mark} | {t.first_ms:.0f} | {t.queries} "
              f"| {t.status} |")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--database-url", required=True, help="a migrated, seeded PostgreSQL database")
    parser.add_argument("--repeat", type=int, default=5, help="measured requests per page after the warm-up (default 5)")
    args = parser.parse_args(argv)
    configure(args.database_url)

    from django.db import connection

    user = bench_admin()
    with rolled_back():
        client = signed_in_client(user)
        timings = [measure(client, name, path, args.repeat) for name, path in addresses()]
        report(timings, connection.settings_dict["NAME"])
    failed = [t for t in timings if t.status != 200 or t.max_ms >= TARGET_MS]
    for t in failed:
        print(f"{t.name}: {t.path} answered {t.status} in at most {t.max_ms:.0f} ms", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
