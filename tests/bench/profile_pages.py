"""
What each page costs the process that serves it, one request at a time
(docs/performance.md, "Pages in process"):

    python -m tests.bench.profile_pages [--database-url URL] [--requests 200] [--profile 12]

Against a database seeded by tests.bench.run, with the production settings as deployed
(DEBUG off, cache and sessions in Redis, the benchmark's URLs), a seeded responder with a verified second factor requests each
page REQUESTS times through Django's test client, at random: detail (any incident),
list (any sort), filtered list (one to three filters and a sort), dashboard, search
(one or two words of tests.bench.vocabulary), the floor (/bench/floor/: session, user
and middleware only) and /healthz. Requests of all pages are shuffled together and
served one at a time. It prints each page's median and 90th percentile CPU time of the
serving thread (time.thread_time: the database's own time is not in it, nor is any
other process's), and with `--profile N` each page's N costliest functions by their
own CPU time (cProfile over all its requests, timed by the thread's CPU clock).
"""
from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import random
import secrets
import statistics
import time
from collections.abc import Callable
from urllib.parse import urlencode

from tests.bench.run import DEPLOYED_REDIS_URL

HOST = "127.0.0.1"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", default=os.environ.get(
        "BENCH_DATABASE_URL", "postgres://127.0.0.1:5432/incident_tracker_bench_1000000"))
    parser.add_argument("--requests", type=int, default=200, help="requests of each page (default 200)")
    parser.add_argument("--profile", type=int, default=0, help="print each page's N costliest functions")
    parser.add_argument("--sort", default="tottime", choices=["tottime", "cumulative"],
                        help="the profile's order: own time (default) or time including calls")
    parser.add_argument("--pages", default="", help="only these pages, comma-separated (default: all)")
    parser.add_argument("--redis-url", default=os.environ.get("BENCH_REDIS_URL", DEPLOYED_REDIS_URL),
                        help=f"cache and sessions in this Redis, as deployed (default {DEPLOYED_REDIS_URL}); "
                             "an empty value runs the database cache instead")
    options = parser.parse_args()
    os.environ.update(DATABASE_URL=options.database_url, DJANGO_SETTINGS_MODULE="tests.bench.settings", DEBUG="false",
                      SECRET_KEY=secrets.token_urlsafe(50), ALLOWED_HOSTS=HOST, LOG_LEVEL="WARNING",
                      REDIS_URL=options.redis_url)
    import django

    django.setup()
    from django.core.management import call_command
    from django.test import Client
    from django_otp import DEVICE_ID_SESSION_KEY
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from accounts.models import User
    from incidents.models import Category, Incident
    from tests.bench.vocabulary import search_text, seeded_words

    call_command("collectstatic", interactive=False, verbosity=0)
    draw = random.Random(1)
    responder = User.objects.filter(is_staff=True, is_active=True).order_by("pk").first()
    assert responder is not None, "the seeded database has responders"
    device = TOTPDevice.objects.filter(user=responder, confirmed=True).first() or TOTPDevice.objects.create(
        user=responder, name="Authenticator app", confirmed=True)
    client = Client(HTTP_HOST=HOST, HTTP_X_FORWARDED_PROTO="https")
    client.force_login(responder)
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = device.persistent_id
    session.save()
    first, last = Incident.objects.order_by("pk").values_list("pk", flat=True)[0], Incident.objects.latest("pk").pk
    categories = list(Category.objects.values_list("pk", flat=True))
    sorts = ["", "newest", "oldest", "severity", "updated"]

    def filters() -> dict[str, object]:
        choices: dict[str, list[object]] = {"status": ["open", "in_progress", "resolved", "closed"],
                                            "severity": [1, 2, 3, 4], "category": [*categories],
                                            "assignee": ["me", "none"]}
        names = draw.sample(list(choices), k=draw.randint(1, 3))
        return {**{name: draw.choice(choices[name]) for name in names}, "sort": draw.choice(sorts)}

    seeded = seeded_words()
    pages: dict[str, Callable[[], str]] = {
        "detail": lambda: f"/incidents/{draw.randint(first, last)}/",
        "list": lambda: "/incidents/?" + urlencode({"sort": draw.choice(sorts)}),
        "filtered list": lambda: "/incidents/?" + urlencode(filters()),
        "dashboard": lambda: "/",
        "search": lambda: "/incidents/?" + urlencode({"q": search_text(draw, seeded)}),
        "floor": lambda: "/bench/floor/",
        "healthz": lambda: "/healthz",
    }
    if options.pages:
        pages = {name: page for name, page in pages.items() if name in options.pages.split(",")}
    for page in pages.values():
        for _ in range(10):
            client.get(page())
    runs = [name for name in pages for _ in range(options.requests)]
    draw.shuffle(runs)
    cpu: dict[str, list[float]] = {name: [] for name in pages}
    # Profiled by the thread's CPU time too, so that waiting for PostgreSQL is not counted.
    profiles = {name: cProfile.Profile(time.thread_time) for name in pages}
    for name in runs:
        path = pages[name]()
        profile = profiles[name] if options.profile else None
        started = time.thread_time()
        if profile:
            profile.enable()
        response = client.get(path)
        if profile:
            profile.disable()
        cpu[name].append((time.thread_time() - started) * 1000)
        assert response.status_code in (200, 404), f"{path}: {response.status_code}"
    print(f"{'page':15} {'median ms':>10} {'p90 ms':>8}   CPU of the serving thread, {options.requests} requests each")
    for name, measured in cpu.items():
        print(f"{name:15} {statistics.median(measured):10.1f} {statistics.quantiles(measured, n=10)[8]:8.1f}")
    for name, profile in profiles.items() if options.profile else ():
        out = io.StringIO()
        pstats.Stats(profile, stream=out).sort_stats(options.sort).print_stats(options.profile)
        lines = [line for line in out.getvalue().splitlines() if line.strip()]
        print(f"\n{name}:\n" + "\n".join(lines[lines.index(next(line for line in lines if "ncalls" in line)):]))


if __name__ == "__main__":
    main()
