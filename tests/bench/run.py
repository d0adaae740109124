"""
The load benchmark behind `make bench` (docs/performance.md).

    python -m tests.bench.run [--incidents N] [--comments M] [--duration S] [--port P]

1. Creates (or reuses) a PostgreSQL database holding N incidents: migrates it and runs
   `manage.py seed --incidents N --comments M`, timing the seed.
2. Starts gunicorn with the production configuration (gunicorn.conf.py, DEBUG off, two
   workers) on loopback, with the benchmark's settings: the product's plus a floor view
   and a header that reports each request's query count.
3. Signs in as a responder through the real two-step sign-in, with a code computed from
   the responder's authenticator secret.
4. For each page, runs a closed loop: CLIENTS concurrent clients, each sending its next
   request when the previous answer has been read, for a bounded time and count; in
   rounds over all the pages, so that the floor and the pages share the machine's drift.
5. Prints, per page, requests per second, latency percentiles, queries per request and
   the ratio to the floor measured in the same run; then the seed time and the workers'
   peak memory (VmHWM from /proc).
"""
from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import secrets
import signal
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import psycopg
from psycopg import sql

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "test-artifacts"
HOST = "127.0.0.1"
CLIENTS = 16
# The export streams 10,000 rows per request: one client per worker measures how long
# one takes to stream, rather than how long it waits behind fifteen others.
EXPORT_CLIENTS = 2
EXPORT_ROWS = 10_000
BENCH_USERNAME = "bench-responder"
QUERY_COUNT_HEADER = "X-Bench-Queries"


@dataclass
class Page:
    name: str
    path: str
    clients: int = CLIENTS


@dataclass
class Result:
    page: Page
    latencies: list[float] = field(default_factory=list)
    queries: list[int] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    elapsed: float = 0.0
    # The machine's one-minute load average when the page's run ended: other work shows here.
    load: str = ""

    def percentile(self, fraction: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] * 1000 if ordered else float("nan")

    @property
    def rate(self) -> float:
        return len(self.latencies) / self.elapsed if self.elapsed else 0.0


def log(message: str) -> None:
    print(message, flush=True)


# --- Database ------------------------------------------------------------------------


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
    manage(env, "createcachetable")
    record = RESULTS / f"seed-{url.rsplit('/', 1)[1]}.json"
    existing = incident_count(url)
    if existing >= incidents:
        log(f"Reusing {existing:,} incidents already in the database")
        return json.loads(record.read_text()) if record.exists() else {"seconds": float("nan"), "when": "unknown"}
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


def sample_targets(url: str) -> tuple[list[int], str]:
    """Incidents for the detail page (ones with comments), and list filters that export about EXPORT_ROWS rows."""
    with psycopg.connect(url) as connection:
        ids = [row[0] for row in connection.execute(
            "SELECT DISTINCT incident_id FROM incidents_comment ORDER BY incident_id DESC LIMIT 200"
        )]
        # Of the list's filters by one or two fields, the one whose matches come closest to
        # EXPORT_ROWS (exact counts, grouped by each pair of columns).
        closest = connection.execute(
            "SELECT filters, n FROM ("
            " SELECT jsonb_build_object('assignee', assignee_id) AS filters, count(*) AS n FROM incidents_incident"
            "  WHERE assignee_id IS NOT NULL GROUP BY assignee_id"
            " UNION ALL SELECT jsonb_build_object('assignee', assignee_id, 'status', status), count(*)"
            "  FROM incidents_incident WHERE assignee_id IS NOT NULL GROUP BY assignee_id, status"
            " UNION ALL SELECT jsonb_build_object('category', category_id, 'severity', severity), count(*)"
            "  FROM incidents_incident WHERE category_id IS NOT NULL GROUP BY category_id, severity"
            " UNION ALL SELECT jsonb_build_object('status', status, 'severity', severity), count(*)"
            "  FROM incidents_incident GROUP BY status, severity"
            ") AS candidates ORDER BY abs(n - %s), n LIMIT 1",
            [EXPORT_ROWS],
        ).fetchone()
    filters, rows = closest if closest else ({}, 0)
    # A small database exports everything.
    export_filter = urlencode(filters) if rows > EXPORT_ROWS / 2 else ""
    log(f"The export reads {rows:,} incidents ({export_filter})" if export_filter else "The export reads every incident")
    return ids, export_filter


def prepare_responder(env: dict[str, str]) -> tuple[str, str]:
    """A staff user with a password and a freshly confirmed authenticator; returns the password and the TOTP secret."""
    script = (
        "import secrets\n"
        "from accounts.models import User\n"
        "from django_otp.plugins.otp_totp.models import TOTPDevice\n"
        f"user, _ = User.objects.get_or_create(username={BENCH_USERNAME!r}, defaults={{'is_staff': True}})\n"
        "password = secrets.token_urlsafe(24)\n"
        "user.is_staff = True\n"
        "user.set_password(password)\n"
        "user.save()\n"
        "TOTPDevice.objects.filter(user=user).delete()\n"
        "device = TOTPDevice.objects.create(user=user, name='bench', confirmed=True)\n"
        "print(password, device.key)\n"
    )
    output = subprocess.run([sys.executable, str(ROOT / "manage.py"), "shell", "-c", script], env=env, cwd=ROOT,
                            check=True, capture_output=True, text=True).stdout.split()
    return output[-2], output[-1]


# --- HTTP ----------------------------------------------------------------------------


class Session:
    """One keep-alive connection with its cookies (kept even when marked Secure: this is plain loopback HTTP)."""

    def __init__(self, port: int) -> None:
        self.connection = http.client.HTTPConnection(HOST, port, timeout=30)
        self.cookies: dict[str, str] = {}

    def request(self, method: str, path: str, body: dict[str, str] | None = None) -> http.client.HTTPResponse:
        headers = {"Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items()), "Host": HOST}
        data = None
        if body is not None:
            data = urlencode(body)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        self.connection.request(method, path, body=data, headers=headers)
        response = self.connection.getresponse()
        for header, value in response.getheaders():
            if header.lower() == "set-cookie":
                name, _, rest = value.partition("=")
                self.cookies[name] = rest.split(";", 1)[0]
        return response


def csrf_token(html: str) -> str:
    match = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html)
    if not match:
        raise RuntimeError("No CSRF token on the sign-in page")
    return match.group(1)


def sign_in(port: int, password: str, totp_key: str) -> dict[str, str]:
    """The real two-step sign-in; returns the session's cookies."""
    from django_otp.oath import totp

    session = Session(port)
    page = session.request("GET", "/accounts/login/").read().decode()
    answer = session.request("POST", "/accounts/login/", {
        "csrfmiddlewaretoken": csrf_token(page), "username": BENCH_USERNAME, "password": password})
    answer.read()
    if answer.status != 302 or "/code/" not in (answer.getheader("Location") or ""):
        raise RuntimeError(f"Password step failed: {answer.status}")
    page = session.request("GET", "/accounts/login/code/").read().decode()
    code = f"{totp(bytes.fromhex(totp_key)):06d}"
    answer = session.request("POST", "/accounts/login/code/", {"csrfmiddlewaretoken": csrf_token(page), "code": code})
    answer.read()
    if answer.status != 302:
        raise RuntimeError(f"Code step failed: {answer.status}")
    return session.cookies


class ClosedLoop:
    """`clients` threads, each sending a request as soon as its previous answer is read, `count` in all or until `until`."""

    def __init__(self, port: int, cookies: dict[str, str], paths: list[str], *, count: int, until: float,
                 result: Result | None) -> None:
        self.port, self.cookies, self.paths = port, cookies, paths
        self.count, self.until, self.result = count, until, result
        self.lock = threading.Lock()
        self.sent = 0

    def run(self, clients: int) -> None:
        threads = [threading.Thread(target=self.client) for _ in range(clients)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    def next_path(self) -> str | None:
        with self.lock:
            number = self.sent
            self.sent += 1
        if number >= self.count or time.monotonic() > self.until:
            return None
        return self.paths[number % len(self.paths)]

    def record(self, path: str, status: int | str, latency: float, queries: int) -> None:
        if self.result is None:
            return
        with self.lock:
            if status != 200:
                self.result.errors.append(f"{status} for {path}")
            else:
                self.result.latencies.append(latency)
                self.result.queries.append(queries)

    def session(self) -> Session:
        session = Session(self.port)
        session.cookies = dict(self.cookies)
        return session

    def client(self) -> None:
        session = self.session()
        while (path := self.next_path()) is not None:
            started = time.perf_counter()
            try:
                response = session.request("GET", path)
                while response.read(65536):
                    pass
            except (OSError, http.client.HTTPException) as error:
                session = self.session()
                self.record(path, repr(error), 0.0, 0)
                continue
            queries = int(response.getheader(QUERY_COUNT_HEADER) or -1)
            self.record(path, response.status, time.perf_counter() - started, queries)


def drive(port: int, cookies: dict[str, str], result: Result, paths: list[str], *, duration: float, limit: int) -> None:
    """
    Warm up (a few unmeasured requests per client, and every path at least once: the
    detail page cycles through 200 incidents), then measure for `duration` seconds or
    `limit` requests, adding to `result` (a page is measured in several rounds).
    """
    clients = result.page.clients
    warm_up = max(clients * 3, len(paths))
    ClosedLoop(port, cookies, paths, count=warm_up, until=time.monotonic() + 60, result=None).run(clients)
    started = time.monotonic()
    ClosedLoop(port, cookies, paths, count=limit, until=started + duration, result=result).run(clients)
    result.elapsed += time.monotonic() - started
    result.load = Path("/proc/loadavg").read_text().split()[0]


# --- gunicorn ------------------------------------------------------------------------


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
    RESULTS.mkdir(exist_ok=True)
    # The server's own log (every request, as in production) goes to a file, not over the report.
    with open(RESULTS / "bench-gunicorn.log", "ab") as server_log:
        process = subprocess.Popen(
            [str(Path(sys.executable).with_name("gunicorn")), "-c", str(ROOT / "gunicorn.conf.py"),
             "--bind", f"{HOST}:{port}", "--log-level", "warning"],
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


# --- Report --------------------------------------------------------------------------


def machine(url: str) -> str:
    """The machine and server the figures were measured on, and how busy the machine was (other work included)."""
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), "unknown CPU")
    memory_kb = int(Path("/proc/meminfo").read_text().split()[1])
    with psycopg.connect(url) as connection:
        row = connection.execute("SHOW server_version").fetchone()
    load = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    return (f"{os.cpu_count()} CPUs ({cpu}), {memory_kb / 1024 / 1024:.0f} GB RAM, PostgreSQL {row[0] if row else '?'}, "
            f"Python {sys.version.split()[0]}; load average now {load}")


def report(results: list[Result], seed: dict[str, Any], memory: list[float], incidents: int) -> None:
    floor = results[0].rate or 1.0
    log("")
    log(f"{incidents:,} incidents; {CLIENTS} clients (export: {EXPORT_CLIENTS}); 2 gunicorn workers")
    log(f"{'page':<16}{'req/s':>8}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}{'queries':>9}{'vs floor':>10}{'requests':>10}"
        f"{'errors':>8}{'load':>6}")
    for result in results:
        queries = statistics.median(result.queries) if result.queries else float("nan")
        log(f"{result.page.name:<16}{result.rate:>8.0f}{result.percentile(0.50):>9.1f}{result.percentile(0.95):>9.1f}"
            f"{result.percentile(0.99):>9.1f}{queries:>9.0f}{result.rate / floor:>9.0%} {len(result.latencies):>9}"
            f"{len(result.errors):>8}{result.load:>6}")
    if "seconds" in seed:
        log(f"seed: {float(seed['seconds']):.1f} s ({seed.get('incidents', '?')} incidents,"
            f" {seed.get('comments', '?')} comments, {seed.get('when', '?')})")
    else:
        log("seed: not timed here (the database was seeded from another checkout; its record is in that one's"
            " test-artifacts/)")
    log("gunicorn workers' peak memory (VmHWM): " + ", ".join(f"{mb:.0f} MB" for mb in memory))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--incidents", type=int, default=1_000_000)
    parser.add_argument("--comments", type=int, help="default: half as many as incidents")
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL", ""))
    parser.add_argument("--port", type=int, default=int(os.environ.get("BENCH_PORT", "8300")))
    parser.add_argument("--duration", type=float, default=10.0, help="seconds measured per page (default 10)")
    parser.add_argument("--limit", type=int, default=5000, help="most requests measured per page (default 5000)")
    parser.add_argument("--rounds", type=int, default=5,
                        help="rounds over all pages, each measuring a page for duration / rounds (default 5)")
    parser.add_argument("--redis-url", default=os.environ.get("BENCH_REDIS_URL", ""),
                        help="cache and sessions in Redis, as production with REDIS_URL")
    options = parser.parse_args()
    comments = options.incidents // 2 if options.comments is None else options.comments
    url = options.database_url or f"postgres://{HOST}:5432/incident_tracker_bench_{options.incidents}"
    env = {
        **os.environ, "DJANGO_SETTINGS_MODULE": "tests.bench.settings", "DATABASE_URL": url,
        "SECRET_KEY": secrets.token_urlsafe(50), "ALLOWED_HOSTS": HOST, "SECURE_SSL_REDIRECT": "false",
        "DEBUG": "false", "WEB_CONCURRENCY": "2", "GUNICORN_MAX_REQUESTS": "0", "LOG_LEVEL": "WARNING",
        "REDIS_URL": options.redis_url,
    }
    os.environ.update({"DJANGO_SETTINGS_MODULE": "tests.bench.settings", "SECRET_KEY": env["SECRET_KEY"],
                       "DATABASE_URL": url})
    seed = prepare_data(url, env, options.incidents, comments)
    manage(env, "collectstatic", "--noinput", "-v0")
    password, totp_key = prepare_responder(env)
    detail_ids, export_filter = sample_targets(url)
    pages = [
        Page("floor", "/bench/floor/"),
        Page("list", "/incidents/"),
        Page("filtered list", "/incidents/?status=in_progress&sort=severity"),
        Page("search", "/incidents/?q=vpn+drop"),
        Page("detail", ""),
        Page("dashboard", "/"),
        Page("export CSV", f"/incidents/export.csv?{export_filter}", clients=EXPORT_CLIENTS),
    ]
    server = start_gunicorn(env, options.port)
    try:
        import django

        django.setup()
        cookies = sign_in(options.port, password, totp_key)
        results = [Result(page) for page in pages]
        # Round after round of every page, so that a machine whose speed drifts during the
        # run (other tenants of a virtual machine) slows the floor and the pages alike.
        for round_number in range(1, options.rounds + 1):
            log(f"Round {round_number} of {options.rounds}…")
            for result in results:
                page = result.page
                paths = [f"/incidents/{pk}/" for pk in detail_ids] if page.name == "detail" else [page.path]
                limit = max(20, options.limit // 100) if page.clients == EXPORT_CLIENTS else options.limit
                drive(options.port, cookies, result, paths, duration=options.duration / options.rounds,
                      limit=max(1, limit // options.rounds))
        memory = [peak_memory_mb(pid) for pid in worker_pids(server.pid)]
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=60)
    report(results, seed, memory, options.incidents)
    log(machine(url))
    if any(result.errors for result in results):
        for result in results:
            if result.errors:
                log(f"{result.page.name}: {len(result.errors)} errors, first: {result.errors[0]}")
        sys.exit(1)


if __name__ == "__main__":
    main()
