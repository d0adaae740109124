"""
The load benchmark behind `make bench` (docs/performance.md, "Method").

    python -m tests.bench.run [--incidents N] [--comments M] [--redis-url URL] [--duration S] [--pages]

1. Creates (or reuses) a PostgreSQL database holding N incidents: migrates it and runs
   `manage.py seed --incidents N --comments M`, timing the seed.
2. Signs people up: RESPONDERS staff users with a confirmed authenticator, and the
   REPORTERS seeded reporters who own the most incidents, each given a password.
3. Starts gunicorn exactly as gunicorn.conf.py configures it (workers, threads,
   max_requests), with the worker counts render.yaml deploys and the production
   settings (DEBUG off, HTTPS behind a proxy, cache and sessions in Redis as render.yaml
   deploys them), plus the benchmark's floor view and a
   header that reports each request's query count (tests/bench/settings.py).
4. Everyone signs in through the real sign-in: responders with a one-time code computed
   from their authenticator's secret, reporters with their password.
5. Rounds that alternate the floor (`/bench/floor/`, the cheapest signed-in page) and the
   mix, so that a machine whose speed drifts slows both alike, both driven by wrk
   (tests/bench/mix.lua): READERS readers, one per user and one connection each, each
   send a request drawn at random as soon as the previous answer is read: an incident's
   detail (a reporter's own), the list with random filters and sort, sometimes its next
   page, a search (tests/bench/vocabulary.py), the dashboard. Meanwhile WRITERS post the
   real forms (CSRF token and version read from the form's page): comments, workflow
   actions, edits and new reports.
6. Prints, per kind of request: requests per second, latency percentiles, queries per
   request, HTTP errors and connection-level failures (reset, refused, closed without an
   answer); the mix's total and its ratio to the floor; which cache ran; the seed time.

With --pages, the older single-page runs instead: one URL repeated per page.
The exit status is 1 if any request failed.
"""
from __future__ import annotations

import argparse
import http.client
import itertools
import json
import os
import random
import re
import secrets
import select
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from datetime import datetime, timezone
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import psycopg
from psycopg import sql

from tests.bench.vocabulary import search_text, seeded_words

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "test-artifacts"
HOST = "127.0.0.1"
FLOOR = "/bench/floor/"
QUERY_COUNT_HEADER = "X-Bench-Queries"
# What render.yaml sets for the web service (tests/incident_tracker/test_deployment.py checks it).
DEPLOYED_ENVIRONMENT = {"WEB_CONCURRENCY": "2", "GUNICORN_THREADS": "4", "LOG_LEVEL": "INFO"}
# render.yaml gives production a Key Value (Redis) instance: cache and sessions live there.
DEPLOYED_REDIS_URL = "redis://127.0.0.1:6379/9"
# Every request arrives as from the proxy in front of production: HTTPS, so nothing redirects.
PROXY_HEADERS = {"Host": HOST, "X-Forwarded-Proto": "https"}

CLIENTS = 16
# The mix's readers: wrk threads of one connection each (tests/bench/mix.lua), one per person.
READERS = 8
WRK_SCRIPT = Path(__file__).with_name("mix.lua")
# Requests drawn for each reader per round; it starts over if it sends them all.
DRAWN_REQUESTS = 5000
RESPONDERS = 4
REPORTERS = 4
# How the mix draws its requests; a list page is followed to its next page this often.
READ_WEIGHTS = {"detail": 40, "list": 30, "search": 15, "dashboard": 15}
FOLLOW_NEXT_PAGE = 0.3
SORTS = ("", "newest", "oldest", "severity", "updated")
# Writes per second, all writers together (at least 2 are asked for), and who writes what. Each
# writer is a person's browser tab posting at its own pace: WRITERS of them share the rate, so
# the rate holds while a write and the page it is posted from take up to WRITERS / rate seconds.
WRITES_PER_SECOND = 2.5
WRITERS = 8
RESPONDER_WRITES = {"comment": 4, "transition": 3, "edit": 3}
REPORTER_WRITES = {"report": 1, "comment": 1}

# --pages: the export streams 10,000 rows per request; one client per worker measures how
# long one takes to stream, rather than how long it waits behind fifteen others.
EXPORT_CLIENTS = 2
EXPORT_ROWS = 10_000


def log(message: str) -> None:
    print(message, flush=True)


# --- Measurements ---------------------------------------------------------------------


@dataclass
class Stats:
    """What one kind of request got: latencies and query counts of its answers, and its failures."""

    latencies: list[float] = field(default_factory=list)
    queries: list[int] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    failures: Counter[str] = field(default_factory=Counter)

    def percentile(self, fraction: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] * 1000 if ordered else float("nan")

    def add(self, other: Stats) -> None:
        self.latencies += other.latencies
        self.queries += other.queries
        self.errors += other.errors
        self.failures += other.failures


class Recorder:
    """Thread-safe stats by kind, and the seconds they were measured over."""

    def __init__(self) -> None:
        self.kinds: dict[str, Stats] = {}
        self.seconds = 0.0
        self.lock = threading.Lock()

    def stats(self, kind: str) -> Stats:
        return self.kinds.setdefault(kind, Stats())

    def answer(self, kind: str, answer: Answer, *, expected: int = 200) -> None:
        with self.lock:
            stats = self.stats(kind)
            if answer.status != expected:
                stats.errors.append(f"{answer.status} for {answer.path}")
            else:
                stats.latencies.append(answer.seconds)
                stats.queries.append(answer.queries)

    def error(self, kind: str, message: str) -> None:
        with self.lock:
            self.stats(kind).errors.append(message)

    def failure(self, kind: str, failure: ConnectionFailure) -> None:
        with self.lock:
            self.stats(kind).failures[failure.name] += 1


# --- HTTP -----------------------------------------------------------------------------


@dataclass
class Answer:
    path: str
    status: int
    location: str
    text: str
    seconds: float
    queries: int


class ConnectionFailure(Exception):
    """The request got no HTTP answer: the connection was reset, refused or closed, or timed out."""

    def __init__(self, error: Exception) -> None:
        super().__init__(repr(error))
        self.name = type(error).__name__


class Session:
    """One keep-alive connection with its cookies (kept even when marked Secure: the proxy's HTTPS is only claimed)."""

    def __init__(self, port: int, cookies: dict[str, str] | None = None) -> None:
        self.connection = http.client.HTTPConnection(HOST, port, timeout=60)
        self.cookies = dict(cookies or {})

    def request(self, method: str, path: str, body: dict[str, str] | None = None) -> Answer:
        """One request; a connection-level failure raises ConnectionFailure, and the next request reconnects."""
        headers = {**PROXY_HEADERS, "Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items())}
        data = None
        if body is not None:
            data = urlencode(body)
            headers.update({"Content-Type": "application/x-www-form-urlencoded", "Origin": f"https://{HOST}"})
        started = time.perf_counter()
        if self.closed_by_server():
            self.connection.close()
        try:
            self.connection.request(method, path, body=data, headers=headers)
            response = self.connection.getresponse()
            content = response.read()
        except (OSError, http.client.HTTPException) as error:
            self.connection.close()
            raise ConnectionFailure(error) from error
        seconds = time.perf_counter() - started
        for header, value in response.getheaders():
            if header.lower() == "set-cookie":
                name, _, rest = value.partition("=")
                self.cookies[name] = rest.split(";", 1)[0]
        return Answer(path, response.status, response.getheader("Location") or "",
                      content.decode(errors="replace"), seconds, int(response.getheader(QUERY_COUNT_HEADER) or -1))

    def closed_by_server(self) -> bool:
        """
        Whether the server has already closed this idle kept-alive connection (after its
        `keepalive` seconds, or a recycled worker's last ones): the socket reads as ready
        with nothing to answer. Browsers and urllib3 check this before reusing a connection
        and open a new one; sending on it anyway fails with a "failure" that no user sees.
        """
        sock = self.connection.sock
        return sock is not None and bool(select.select([sock], [], [], 0)[0])


@dataclass
class Form:
    """A POST form as a browser would submit it untouched, and the options of its selects."""

    action: str
    fields: dict[str, str] = field(default_factory=dict)
    options: dict[str, list[str]] = field(default_factory=dict)


class PageParser(HTMLParser):
    """The POST forms of the page at `path` and its next-page link: what a user's next click can be."""

    def __init__(self, html: str, path: str = "") -> None:
        super().__init__()
        self.path = path
        self.forms: list[Form] = []
        self.next_page = ""
        self._form: Form | None = None
        self._textarea = ""
        self._select = ""
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        named = {key: value or "" for key, value in attrs}
        if tag == "a" and "next" in named.get("rel", "").split():
            self.next_page = named.get("href", "")
        elif tag == "form" and named.get("method", "").lower() == "post":
            self._form = Form(named.get("action") or self.path)
            self.forms.append(self._form)
        elif self._form is not None:
            self.field(self._form, tag, named)

    def field(self, form: Form, tag: str, named: dict[str, str]) -> None:
        """What a browser would submit for this tag: checked boxes only, a select's selected (else first) option."""
        name, value = named.get("name", ""), named.get("value", "")
        if tag == "input" and name and (named.get("type") not in ("checkbox", "radio") or "checked" in named):
            form.fields[name] = value
        elif tag == "textarea" and name:
            self._textarea = name
            form.fields[name] = ""
        elif tag == "select" and name:
            self._select = name
            form.options[name] = []
        elif tag == "option" and self._select:
            form.options[self._select].append(value)
            if "selected" in named or self._select not in form.fields:
                form.fields[self._select] = value

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._form = None
        elif tag == "textarea":
            self._textarea = ""
        elif tag == "select":
            self._select = ""

    def handle_data(self, data: str) -> None:
        if self._form is not None and self._textarea:
            # As a browser does, the newline right after <textarea> is not part of the value.
            text = self._form.fields[self._textarea]
            self._form.fields[self._textarea] = text + (data if text else data.removeprefix("\n"))


# --- People ---------------------------------------------------------------------------


@dataclass
class User:
    username: str
    password: str
    totp_key: str = ""
    # A reporter's own incidents; empty for a responder, who sees them all.
    incidents: list[int] = field(default_factory=list)
    cookies: dict[str, str] = field(default_factory=dict)

    @property
    def is_responder(self) -> bool:
        return bool(self.totp_key)


PEOPLE_SCRIPT = """
import json, secrets
from django.db.models import Count
from accounts.models import User
from django_otp.plugins.otp_totp.models import TOTPDevice
from incidents.models import Incident

people = []
for number in range(1, {responders} + 1):
    user, _ = User.objects.get_or_create(username=f"bench-responder-{{number}}")
    user.is_staff = user.is_active = True
    password = secrets.token_urlsafe(24)
    user.set_password(password)
    user.save()
    TOTPDevice.objects.filter(user=user).delete()
    device = TOTPDevice.objects.create(user=user, name="bench", confirmed=True)
    people.append({{"username": user.username, "password": password, "totp_key": device.key}})
owners = (Incident.objects.filter(reporter__is_staff=False).values("reporter")
          .annotate(owned=Count("id")).order_by("-owned")[:{reporters}])
for user in User.objects.filter(pk__in=[owner["reporter"] for owner in owners]):
    password = secrets.token_urlsafe(24)
    user.set_password(password)
    user.is_active = True
    user.save()
    people.append({{"username": user.username, "password": password}})
print(json.dumps(people))
"""


def prepare_people(env: dict[str, str], url: str) -> list[User]:
    """RESPONDERS responders with fresh authenticators, and the REPORTERS reporters who own the most incidents."""
    output = subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), "shell", "-c",
         PEOPLE_SCRIPT.format(responders=RESPONDERS, reporters=REPORTERS)],
        env=env, cwd=ROOT, check=True, capture_output=True, text=True,
    ).stdout
    people = [User(**person) for person in json.loads(output.strip().splitlines()[-1])]
    with psycopg.connect(url) as connection:
        for person in people:
            if not person.is_responder:
                person.incidents = [row[0] for row in connection.execute(
                    "SELECT i.id FROM incidents_incident i JOIN accounts_user u ON u.id = i.reporter_id"
                    " WHERE u.username = %s", [person.username])]
    return people


def csrf_token(answer: Answer) -> str:
    for form in PageParser(answer.text).forms:
        if "csrfmiddlewaretoken" in form.fields:
            return form.fields["csrfmiddlewaretoken"]
    raise RuntimeError(f"No CSRF token on {answer.path} ({answer.status})")


def sign_in(port: int, user: User) -> None:
    """The real sign-in (password, then for a responder the one-time code); keeps the session's cookies."""
    from django_otp.oath import totp

    session = Session(port)
    page = session.request("GET", "/accounts/login/")
    answer = session.request("POST", "/accounts/login/", {
        "csrfmiddlewaretoken": csrf_token(page), "username": user.username, "password": user.password})
    if answer.status != 302 or ("/code/" in answer.location) != user.is_responder:
        raise RuntimeError(f"Password step failed for {user.username}: {answer.status} {answer.location}")
    if user.is_responder:
        page = session.request("GET", "/accounts/login/code/")
        code = f"{totp(bytes.fromhex(user.totp_key)):06d}"
        answer = session.request("POST", "/accounts/login/code/", {"csrfmiddlewaretoken": csrf_token(page), "code": code})
        if answer.status != 302:
            raise RuntimeError(f"Code step failed for {user.username}: {answer.status}")
    user.cookies = session.cookies


# --- The mix --------------------------------------------------------------------------


@dataclass
class Targets:
    """What the requests are drawn from, read from the database once."""

    first_id: int
    last_id: int
    statuses: list[str]
    severities: list[str]
    categories: list[str]
    responders: list[str]
    words: list[str]


EMPTY_TARGETS = Targets(0, 0, [], [], [], [], [])


def load_targets(url: str) -> Targets:
    from incidents.models import Severity
    from incidents.workflow import Status

    with psycopg.connect(url) as connection:
        first_id, last_id = connection.execute("SELECT min(id), max(id) FROM incidents_incident").fetchone() or (0, 0)
        categories = [str(row[0]) for row in connection.execute("SELECT id FROM incidents_category WHERE is_active")]
        responders = [str(row[0]) for row in connection.execute(
            "SELECT DISTINCT assignee_id FROM incidents_incident WHERE assignee_id IS NOT NULL"
            " AND id > %s", [last_id - 10_000])]
        # The words PostgreSQL's English search keeps (not stop words): a search always has a term.
        words = [row[0] for row in connection.execute(
            "SELECT word FROM unnest(%s::text[]) AS word WHERE to_tsvector('english', word) <> ''::tsvector",
            [seeded_words()])]
    if not first_id:
        raise RuntimeError("The database has no incidents")
    return Targets(first_id, last_id, [str(value) for value in Status.values], [str(value) for value in Severity.values],
                   categories, responders, words)


class Reader:
    """One client of the mix: a user's session and the requests it draws at random."""

    def __init__(self, port: int, user: User, targets: Targets, seed: int, *, follows_next_page: bool = True) -> None:
        self.user, self.targets, self.follows_next_page = user, targets, follows_next_page
        self.session = Session(port, user.cookies)
        self.random = random.Random(seed)
        self.next_page = ""

    def pick(self) -> tuple[str, str]:
        """The next request: the next page of the list just read, sometimes, else a kind drawn by READ_WEIGHTS."""
        if self.next_page:
            path, self.next_page = self.next_page, ""
            return "list, next page", path
        kind = self.random.choices(list(READ_WEIGHTS), weights=list(READ_WEIGHTS.values()))[0]
        if kind == "detail":
            return kind, f"/incidents/{self.incident()}/"
        if kind == "list":
            return kind, "/incidents/?" + urlencode(self.filters())
        if kind == "search":
            return kind, "/incidents/?" + urlencode({"q": search_text(self.random, self.targets.words)})
        return kind, "/"

    def incident(self) -> int:
        if self.user.incidents:
            return self.random.choice(self.user.incidents)
        return self.random.randint(self.targets.first_id, self.targets.last_id)

    def filters(self) -> dict[str, str]:
        draw, targets = self.random, self.targets
        choices = {"status": targets.statuses, "severity": targets.severities, "category": targets.categories,
                   "assignee": ["me", "none", *targets.responders]}
        filters = {name: draw.choice(values) for name, values in choices.items() if values and draw.random() < 0.35}
        sort = draw.choice(SORTS)
        return {**filters, "sort": sort} if sort else filters

    def read(self, answer: Answer, kind: str) -> None:
        if kind == "list" and self.follows_next_page and self.random.random() < FOLLOW_NEXT_PAGE:
            next_page = PageParser(answer.text).next_page
            self.next_page = "/incidents/" + next_page if next_page.startswith("?") else next_page


class Writer:
    """A user posting the real forms at a steady pace: what the readers' pages must keep up with."""

    def __init__(self, port: int, user: User, targets: Targets, recorder: Recorder, *, per_second: float, seed: int) -> None:
        from incidents.seeding import COMMENTS, IncidentGenerator

        self.session = Session(port, user.cookies)
        self.user, self.targets, self.recorder, self.per_second = user, targets, recorder, per_second
        self.random = random.Random(seed)
        self.writes = RESPONDER_WRITES if user.is_responder else REPORTER_WRITES
        # Titles, descriptions and comments in the seeded data's words.
        self.text = IncidentGenerator(reporters=[0], responders=[0], categories=[], now=datetime.now(timezone.utc),
                                      random_seed=seed)
        self.comments = COMMENTS

    def run(self, stop: threading.Event) -> None:
        # A random phase, so that the writers do not all post at the same moments.
        due = time.monotonic() + self.random.random() / self.per_second
        stop.wait(max(0.0, due - time.monotonic()))
        while not stop.is_set():
            kind = self.random.choices(list(self.writes), weights=list(self.writes.values()))[0]
            try:
                getattr(self, kind)(f"write: {kind}")
            except ConnectionFailure as failure:
                self.recorder.failure(f"write: {kind}", failure)
            due += 1 / self.per_second
            stop.wait(max(0.0, due - time.monotonic()))

    def incident(self) -> int:
        if self.user.incidents:
            return self.random.choice(self.user.incidents)
        return self.random.randint(self.targets.first_id, self.targets.last_id)

    def post(self, kind: str, form: Form, changes: dict[str, str]) -> None:
        answer = self.session.request("POST", form.action, {**form.fields, **changes})
        self.recorder.answer(kind, answer, expected=302)

    def page_forms(self, kind: str, path: str) -> list[Form]:
        page = self.session.request("GET", path)
        if page.status != 200:
            self.recorder.error(kind, f"{page.status} for {path}")
            return []
        return PageParser(page.text, path).forms

    def form(self, kind: str, path: str, action_contains: str) -> Form | None:
        form = next((form for form in self.page_forms(kind, path) if action_contains in form.action), None)
        if form is None:
            self.recorder.error(kind, f"no form posting to {action_contains} on {path}")
        return form

    def comment(self, kind: str) -> None:
        if form := self.form(kind, f"/incidents/{self.incident()}/", "/comments/"):
            self.post(kind, form, {"body": f"<p>{self.text.text(self.comments)}</p>"})

    def transition(self, kind: str) -> None:
        path = f"/incidents/{self.incident()}/"
        actions = [form for form in self.page_forms(kind, path) if "/actions/" in form.action or "/take/" in form.action]
        if actions:
            self.post(kind, self.random.choice(actions), {})
        else:
            self.recorder.error(kind, f"no workflow action on {path}")

    def edit(self, kind: str) -> None:
        if form := self.form(kind, f"/incidents/{self.incident()}/edit/", "/edit/"):
            self.post(kind, form, {"title": self.text.title(), "severity": self.random.choice(form.options["severity"])})

    def report(self, kind: str) -> None:
        if form := self.form(kind, "/incidents/new/", "/new/"):
            self.post(kind, form, {
                "title": self.text.title(), "description": self.text.description(),
                "severity": self.random.choice(form.options["severity"]),
                "category": self.random.choice(form.options["category"]),
            })


def closed_loop(readers: list[Reader], pick: Callable[[Reader], tuple[str, str]], recorder: Recorder, *,
                seconds: float, limit: int) -> None:
    """
    Each reader in its own thread sends its next request as soon as the previous answer is
    read, `limit` requests in all or for `seconds`; adds to `recorder`.
    """
    lock = threading.Lock()
    sent = [0]
    started = time.monotonic()
    until = started + seconds

    def client(reader: Reader) -> None:
        while True:
            with lock:
                sent[0] += 1
                if sent[0] > limit or time.monotonic() > until:
                    return
            kind, path = pick(reader)
            try:
                answer = reader.session.request("GET", path)
            except ConnectionFailure as failure:
                recorder.failure(kind, failure)
                continue
            recorder.answer(kind, answer)
            reader.read(answer, kind)

    threads = [threading.Thread(target=client, args=(reader,)) for reader in readers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    recorder.seconds += time.monotonic() - started


def floor_request(reader: Reader) -> tuple[str, str]:
    return "floor", FLOOR


def wrk_loop(port: int, readers: list[Reader], pick: Callable[[Reader], tuple[str, str]], recorder: Recorder, *,
             seconds: float, follow: float) -> None:
    """
    wrk sends each reader's requests (DRAWN_REQUESTS drawn by `pick`) over one connection
    each, the next as soon as the previous answer is read, for `seconds`; each answer's
    kind, status, latency and query count are added to `recorder`. wrk is written in C
    and leaves the cores to the server: the Python clients it replaced cost the machine
    as much as the server did.
    """
    with tempfile.TemporaryDirectory(prefix="bench-wrk-") as name:
        folder = Path(name)
        for number, reader in enumerate(readers):
            (folder / f"cookies-{number}").write_text("; ".join(f"{k}={v}" for k, v in reader.session.cookies.items()))
            lines = (f"{kind}\t{path}\n" for kind, path in (pick(reader) for _ in range(DRAWN_REQUESTS)))
            (folder / f"requests-{number}").write_text("".join(lines))
        (folder / "follow").write_text(str(follow))
        result = subprocess.run(
            ["wrk", f"-t{len(readers)}", f"-c{len(readers)}", f"-d{seconds:.0f}s", "--timeout", "60s",
             "-s", str(WRK_SCRIPT), f"http://{HOST}:{port}", "--", str(folder)],
            capture_output=True, text=True, check=True,
        )
        recorder.seconds += seconds
        with recorder.lock:
            for number in range(len(readers)):
                for line in (folder / f"answers-{number}").read_text().splitlines():
                    kind, status, microseconds, queries = line.split("\t")
                    stats = recorder.stats(kind)
                    if status != "200":
                        stats.errors.append(f"{status} for {kind}")
                        continue
                    stats.latencies.append(float(microseconds) / 1e6)
                    stats.queries.append(int(queries or 0))
            errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", result.stdout)
            for failure, count in zip(("refused", "read", "write", "timeout"), errors.groups() if errors else ()):
                if int(count):
                    recorder.stats("wrk connections").failures[failure] += int(count)


def mixed_rounds(port: int, people: list[User], targets: Targets, options: argparse.Namespace) -> tuple[Recorder, Recorder]:
    """The floor and the mix in alternating rounds, writers running during the mix; returns both recorders."""
    readers = [Reader(port, people[number % len(people)], targets, seed=number) for number in range(READERS)]
    # Writers take turns at being a responder and a reporter, each a person of their own while there are people.
    writing_as = [[person for person in people if not person.is_responder],
                  [person for person in people if person.is_responder]]
    floor, mix = Recorder(), Recorder()
    seconds = max(1.0, options.duration / options.rounds)
    # Unmeasured first: connections, the workers' first queries and templates.
    wrk_loop(port, readers, Reader.pick, Recorder(), seconds=10, follow=FOLLOW_NEXT_PAGE)
    for round_number in range(1, options.rounds + 1):
        log(f"Round {round_number} of {options.rounds}…")
        wrk_loop(port, readers, floor_request, floor, seconds=seconds, follow=0)
        stop = threading.Event()
        writers = [
            threading.Thread(target=Writer(port, writing_as[number % 2][number // 2 % len(writing_as[number % 2])],
                                           targets, mix, per_second=WRITES_PER_SECOND / WRITERS,
                                           seed=round_number * 100 + number).run, args=(stop,))
            for number in range(WRITERS)
        ]
        for writer in writers:
            writer.start()
        wrk_loop(port, readers, Reader.pick, mix, seconds=seconds, follow=FOLLOW_NEXT_PAGE)
        stop.set()
        for writer in writers:
            writer.join()
    return floor, mix


# --- Single pages (--pages) -----------------------------------------------------------


def single_pages(port: int, responder: User, url: str, options: argparse.Namespace) -> dict[str, Recorder]:
    """Each page's own URL repeated by CLIENTS clients of one responder, page after page in rounds."""
    with psycopg.connect(url) as connection:
        detail_ids = [row[0] for row in connection.execute(
            "SELECT DISTINCT incident_id FROM incidents_comment ORDER BY incident_id DESC LIMIT 200")]
        closest = connection.execute(
            "SELECT status, severity, count(*) FROM incidents_incident GROUP BY status, severity"
            " ORDER BY abs(count(*) - %s) LIMIT 1", [EXPORT_ROWS]).fetchone()
    # About EXPORT_ROWS rows to export; a small database exports everything.
    big_enough = closest and closest[2] > EXPORT_ROWS / 2
    export_filter = urlencode({"status": closest[0], "severity": closest[1]}) if closest and big_enough else ""
    pages = {
        "floor": [FLOOR], "list": ["/incidents/"], "filtered list": ["/incidents/?status=in_progress&sort=severity"],
        "search": ["/incidents/?q=vpn+drop"], "detail": [f"/incidents/{pk}/" for pk in detail_ids],
        "dashboard": ["/"], "export CSV": [f"/incidents/export.csv?{export_filter}"],
    }
    recorders = {page: Recorder() for page in pages}
    for round_number in range(1, options.rounds + 1):
        log(f"Round {round_number} of {options.rounds}…")
        for page, paths in pages.items():
            clients = EXPORT_CLIENTS if page == "export CSV" else CLIENTS
            readers = [Reader(port, responder, EMPTY_TARGETS, seed=number, follows_next_page=False)
                       for number in range(clients)]
            turns = itertools.count()

            def pick(reader: Reader, page: str = page, paths: list[str] = paths) -> tuple[str, str]:
                return page, paths[next(turns) % len(paths)]

            limit = max(20, options.limit // 100) if page == "export CSV" else options.limit
            closed_loop(readers, pick, Recorder(), seconds=30, limit=max(clients * 3, len(paths)))
            closed_loop(readers, pick, recorders[page], seconds=options.duration / options.rounds,
                        limit=max(1, limit // options.rounds))
    return recorders


# --- Database, gunicorn ---------------------------------------------------------------


def ensure_database(url: str) -> None:
    name = url.rsplit("/", 1)[1]
    server = url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(server, autocommit=True) as connection:
        if not connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            log(f"Creating database {name}")
            connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def manage(env: dict[str, str], *args: str) -> None:
    subprocess.run([sys.executable, str(ROOT / "manage.py"), *args], env=env, cwd=ROOT, check=True)


def incident_count(url: str) -> int:
    with psycopg.connect(url) as connection:
        row = connection.execute("SELECT count(*) FROM incidents_incident").fetchone()
        return int(row[0]) if row else 0


def prepare_data(url: str, env: dict[str, str], incidents: int, comments: int) -> dict[str, Any]:
    """Migrate, seed up to `incidents`, and return how long the seed took (measured now or recorded then)."""
    ensure_database(url)
    manage(env, "migrate", "--noinput", "-v0")
    record = RESULTS / f"seed-{url.rsplit('/', 1)[1]}.json"
    existing = incident_count(url)
    if existing >= incidents:
        log(f"Reusing {existing:,} incidents already in the database")
        return json.loads(record.read_text()) if record.exists() else {}
    missing = incidents - existing
    log(f"Seeding {missing:,} incidents and {comments * missing // incidents:,} comments")
    started = time.monotonic()
    manage(env, "seed", "--incidents", str(missing), "--comments", str(comments * missing // incidents))
    seeded: dict[str, Any] = {
        "seconds": time.monotonic() - started, "incidents": missing, "comments": comments * missing // incidents,
        "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    }
    RESULTS.mkdir(exist_ok=True)
    record.write_text(json.dumps(seeded))
    return seeded


def worker_pids(master: int) -> list[int]:
    pids = []
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            fields = dict(line.split(":\t", 1) for line in status.read_text().splitlines() if ":\t" in line)
        except OSError:
            continue
        if fields.get("PPid", "").strip() == str(master):
            pids.append(int(status.parent.name))
    return pids


def peak_memory_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def start_gunicorn(env: dict[str, str], port: int) -> subprocess.Popen[bytes]:
    """gunicorn.conf.py as it is, listening on loopback; its log (a line per request, as in production) goes to a file."""
    RESULTS.mkdir(exist_ok=True)
    with open(RESULTS / "bench-gunicorn.log", "ab") as server_log:
        process = subprocess.Popen(
            [str(Path(sys.executable).with_name("gunicorn")), "-c", str(ROOT / "gunicorn.conf.py"),
             "--bind", f"{HOST}:{port}"],
            env=env, cwd=ROOT, stdout=server_log, stderr=subprocess.STDOUT,
        )
    for _ in range(300):
        try:
            connection = http.client.HTTPConnection(HOST, port, timeout=2)
            connection.request("GET", "/healthz", headers={"Host": HOST})
            if connection.getresponse().status == 200:
                return process
        except OSError:
            time.sleep(0.1)
    process.terminate()
    raise RuntimeError("gunicorn did not start")


def server_configuration(env: dict[str, str]) -> str:
    """The cache backend and gunicorn's worker settings, read from the configuration that ran."""
    script = (
        "import runpy\n"
        "from django.conf import settings\n"
        "config = runpy.run_path('gunicorn.conf.py')\n"
        "print(settings.CACHES['default']['BACKEND'], config['workers'], config['threads'],"
        " config['max_requests'], config['max_requests_jitter'])\n"
    )
    backend, workers, threads, max_requests, jitter = subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), "shell", "-c", script], env=env, cwd=ROOT, check=True,
        capture_output=True, text=True).stdout.split()[-5:]
    cache = "Redis" if "redis" in backend.lower() else "database" if backend.endswith("DatabaseCache") else "other"
    return (f"cache: {cache} ({backend}); gunicorn.conf.py: {workers} workers x {threads} threads,"
            f" max_requests {max_requests} (+ up to {jitter}), DEBUG off")


# --- Report ---------------------------------------------------------------------------

HEADER = (f"{'kind':<20}{'req/s':>8}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}{'queries':>9}{'requests':>10}{'errors':>8}"
          f"{'conn. failures':>16}")


def row(name: str, stats: Stats, seconds: float, extra: str = "") -> str:
    queries = statistics.mean(stats.queries) if stats.queries else float("nan")
    rate = len(stats.latencies) / seconds if seconds else 0.0
    return (f"{name:<20}{rate:>8.1f}{stats.percentile(0.50):>9.1f}{stats.percentile(0.95):>9.1f}"
            f"{stats.percentile(0.99):>9.1f}{queries:>9.1f}{len(stats.latencies):>10}{len(stats.errors):>8}"
            f"{sum(stats.failures.values()):>16}{extra}")


def ordered(kinds: Iterable[str]) -> list[str]:
    order = ["floor", "detail", "list", "list, next page", "search", "dashboard"]
    return sorted(kinds, key=lambda kind: (order.index(kind) if kind in order else len(order), kind))


def report_mix(floor: Recorder, mix: Recorder) -> list[Stats]:
    floor_stats = floor.stats("floor")
    floor_rate = len(floor_stats.latencies) / floor.seconds if floor.seconds else 0.0
    reads, writes = Stats(), Stats()
    log(HEADER)
    log(row("floor", floor_stats, floor.seconds))
    for kind in ordered(mix.kinds):
        (writes if kind.startswith("write") else reads).add(mix.kinds[kind])
        log(row(kind, mix.kinds[kind], mix.seconds))
    mix_rate = len(reads.latencies) / mix.seconds if mix.seconds else 0.0
    log(row("mix (reads)", reads, mix.seconds, f"   {mix_rate / floor_rate if floor_rate else 0:.1%} of the floor"))
    log(row("writes", writes, mix.seconds, "   (at least 2/s asked)"))
    return [floor_stats, reads, writes]


def report_pages(recorders: dict[str, Recorder]) -> list[Stats]:
    floor = recorders["floor"]
    floor_rate = len(floor.stats("floor").latencies) / floor.seconds if floor.seconds else 0.0
    log(HEADER + f"{'vs floor':>10}")
    for page, recorder in recorders.items():
        stats = recorder.stats(page)
        rate = len(stats.latencies) / recorder.seconds if recorder.seconds else 0.0
        log(row(page, stats, recorder.seconds, f"{rate / floor_rate if floor_rate else 0:>10.0%}"))
    return [recorder.stats(page) for page, recorder in recorders.items()]


def machine(url: str) -> str:
    """The machine and server the figures were measured on, and how busy the machine was (other work included)."""
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), "unknown CPU")
    memory_kb = int(Path("/proc/meminfo").read_text().split()[1])
    with psycopg.connect(url) as connection:
        version = connection.execute("SHOW server_version").fetchone()
    load = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    return (f"{os.cpu_count()} CPUs ({cpu}), {memory_kb / 1024 / 1024:.0f} GB RAM,"
            f" PostgreSQL {version[0] if version else '?'}, Python {sys.version.split()[0]}; load average now {load}")


def report_failures(everything: list[Stats]) -> bool:
    """The connection-level failures by name, and the first HTTP errors; True if there were any."""
    failures: Counter[str] = Counter()
    errors: list[str] = []
    for stats in everything:
        failures += stats.failures
        errors += stats.errors
    named = ", ".join(f"{name} {count}" for name, count in failures.most_common())
    log(f"connection-level failures: {sum(failures.values())}" + (f" ({named})" if named else ""))
    if errors:
        log(f"HTTP errors: {len(errors)}, first: " + "; ".join(errors[:3]))
    return bool(failures or errors)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--incidents", type=int, default=1_000_000)
    parser.add_argument("--comments", type=int, help="default: half as many as incidents")
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL", ""),
                        help="default: postgres://127.0.0.1:5432/incident_tracker_bench_<incidents>")
    parser.add_argument("--port", type=int, default=int(os.environ.get("BENCH_PORT", "8300")))
    parser.add_argument("--duration", type=float, default=30.0,
                        help="seconds measured of the mix, and as many of the floor (default 30)")
    parser.add_argument("--limit", type=int, default=20_000,
                        help="--pages: most requests measured of each page (default 20,000)")
    parser.add_argument("--rounds", type=int, default=5, help="rounds of floor then mix (default 5)")
    parser.add_argument("--redis-url", default=os.environ.get("BENCH_REDIS_URL", DEPLOYED_REDIS_URL),
                        help="cache and sessions in this Redis, as render.yaml deploys them (default "
                             f"{DEPLOYED_REDIS_URL}); an empty value runs the database cache instead")
    parser.add_argument("--pages", action="store_true", help="single pages repeated instead of the mix")
    options = parser.parse_args()
    comments = options.incidents // 2 if options.comments is None else options.comments
    url = options.database_url or f"postgres://{HOST}:5432/incident_tracker_bench_{options.incidents}"
    env = {
        **os.environ, **DEPLOYED_ENVIRONMENT, "DJANGO_SETTINGS_MODULE": "tests.bench.settings", "DATABASE_URL": url,
        "SECRET_KEY": secrets.token_urlsafe(50), "ALLOWED_HOSTS": HOST, "DEBUG": "false",
        "REDIS_URL": options.redis_url,
    }
    for name in ("GUNICORN_MAX_REQUESTS", "GUNICORN_MAX_REQUESTS_JITTER", "GUNICORN_TIMEOUT"):
        env.pop(name, None)
    os.environ.update({name: env[name] for name in ("DJANGO_SETTINGS_MODULE", "SECRET_KEY", "DATABASE_URL", "DEBUG")})
    seed = prepare_data(url, env, options.incidents, comments)
    manage(env, "collectstatic", "--noinput", "-v0")
    people = prepare_people(env, url)
    configuration = server_configuration(env)
    server = start_gunicorn(env, options.port)
    try:
        import django

        django.setup()
        for person in people:
            sign_in(options.port, person)
        if options.pages:
            recorders = single_pages(options.port, people[0], url, options)
        else:
            floor, mix = mixed_rounds(options.port, people, load_targets(url), options)
        memory = [peak_memory_mb(pid) for pid in worker_pids(server.pid)]
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=60)
    responders = sum(person.is_responder for person in people)
    log("")
    log(f"{options.incidents:,} incidents, {comments:,} comments; {configuration}")
    if options.pages:
        log(f"Single pages, each repeated by {CLIENTS} clients of one responder (export: {EXPORT_CLIENTS})")
        everything = report_pages(recorders)
    else:
        log(f"Mix: {READERS} wrk readers as {len(people)} users ({responders} responders, {len(people) - responders}"
            f" reporters), {WRITERS} writers posting {WRITES_PER_SECOND} forms/s in all;"
            f" {options.rounds} rounds of floor then mix")
        everything = report_mix(floor, mix)
    failed = report_failures(everything)
    if "seconds" in seed:
        log(f"seed: {float(seed['seconds']):.1f} s ({seed['incidents']:,} incidents, {seed['comments']:,} comments,"
            f" {seed['when']})")
    else:
        log("seed: not timed here (the database was seeded from another checkout)")
    log("gunicorn workers' peak memory (VmHWM): " + ", ".join(f"{mb:.0f} MB" for mb in memory))
    log(machine(url))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
