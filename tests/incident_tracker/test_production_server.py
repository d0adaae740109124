"""
gunicorn with the production settings on PostgreSQL, watched from outside: pages,
compressed hashed static files, the start-up migration check, and a database outage
played by cutting a proxy between the application and PostgreSQL.
"""
from __future__ import annotations

import http.client
import json
import re
import socket
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from django.conf import settings
from django.db import connection
from django.db.migrations.recorder import MigrationRecorder
from django.test import Client

from incident_tracker import __version__
from tests.factories import make_user

from . import servers
from .servers import TcpProxy, database_url, fetch, free_port, gunicorn

pytestmark = [pytest.mark.postgresql, pytest.mark.django_db(transaction=True)]

HTTPS = {"X-Forwarded-Proto": "https"}
METRICS_TOKEN = "scrape-token-for-tests-0123456789"
RESET_TOKEN = "cz1abc-0123456789abcdef0123456789abcdef"
ENROLMENT_TOKEN = "Qx3v0J2kVb9s-_4LmNpR7tYwZa1cE5gH6iK8oU0yT2q"


def production_env(static_root: Path, log_dir: Path, db_url: str) -> dict[str, str]:
    return servers.production_env(static_root, log_dir, db_url, metrics_token=METRICS_TOKEN)


def test_gunicorn_serves_pages_and_compressed_hashed_static(collected_static, tmp_path):
    logs = tmp_path / "logs"
    with gunicorn(production_env(collected_static, logs, database_url()), log_path=tmp_path / "gunicorn.log") as url:
        login = fetch(f"{url}/accounts/login/", headers={**HTTPS, "X-Request-ID": "smoke-login-1"})
        assert login.status == 200
        page = login.body.decode()
        assert "csrfmiddlewaretoken" in page
        assert f"v{__version__}" in page
        assert login.headers["X-Request-ID"] == "smoke-login-1"

        hashed_css = re.search(r'href="(/static/css/site\.[0-9a-f]{12}\.css)"', page)
        assert hashed_css, "the page links the content-hashed stylesheet"
        for encoding in ("br", "gzip"):
            css = fetch(url + hashed_css.group(1), headers={**HTTPS, "Accept-Encoding": encoding})
            assert css.status == 200
            assert css.headers["Content-Encoding"] == encoding
            max_age = re.search(r"max-age=(\d+)", css.headers["Cache-Control"])
            assert max_age and int(max_age.group(1)) >= 31536000  # a year at least
            assert "immutable" in css.headers["Cache-Control"]

        assert fetch(f"{url}/accounts/login/").status == 301  # plain HTTP goes to HTTPS...
        ready = fetch(f"{url}/readyz")  # ...but probes do not, whatever their Host
        assert ready.status == 200
        assert json.loads(ready.body) == {"status": "ok", "version": __version__, "database": "ok",
                                          "migrations": "applied", "cache": "ok", "queue": "ok", "queue_waiting": 0,
                                          "queue_oldest_wait_seconds": 0.0, "queue_dead": 0}

        fetch(f"{url}/accounts/password-reset/MQ/{RESET_TOKEN}/?next=/secret-query", headers=HTTPS)
        fetch(f"{url}/accounts/security/enrol/{ENROLMENT_TOKEN}/", headers=HTTPS)
        scraped = fetch(f"{url}/metrics", headers={**HTTPS, "Authorization": f"Bearer {METRICS_TOKEN}"})
        assert scraped.status == 200
        assert 'incident_tracker_requests_total{status="200",view="accounts:login"}' in scraped.body.decode()

    app_log = (logs / "app.log").read_text()
    assert re.search(r"request_id=smoke-login-1 .* path=/accounts/login/ status=200 duration_ms=[\d.]+", app_log)
    access_log = (tmp_path / "gunicorn.log").read_text()
    assert re.search(r'"GET /accounts/login/" 200 \d+ \d+ms request_id=smoke-login-1 ', access_log)
    assert '"GET /accounts/password-reset/MQ/[token]/"' in access_log
    assert '"GET /accounts/security/enrol/[token]/"' in access_log
    assert "path=/accounts/security/enrol/[token]/ " in app_log
    for log in (app_log, access_log):
        assert RESET_TOKEN not in log and "secret-query" not in log and ENROLMENT_TOKEN not in log


def test_workers_recycled_by_max_requests_never_drop_a_kept_alive_connection(collected_static, tmp_path):
    """
    Clients that reuse their connections, as browsers and proxies do, while both workers
    restart every 20 or so requests: every request gets its answer. A worker may close a
    connection only after a response that said `Connection: close`, never under a request
    the client has already sent (a proxy would answer that one 502, and a POST may have
    been saved although the client saw a failure). Bounded to about 20 seconds.
    """
    env = {**production_env(collected_static, tmp_path, database_url()),
           "GUNICORN_MAX_REQUESTS": "20", "GUNICORN_MAX_REQUESTS_JITTER": "5"}
    statuses: list[int] = []
    failures: list[str] = []
    with gunicorn(env, log_path=tmp_path / "gunicorn.log", workers=2) as url:
        port = urlsplit(url).port
        deadline = time.monotonic() + 20

        def client() -> None:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            for _ in range(60):
                if time.monotonic() > deadline:
                    break
                try:
                    connection.request("GET", "/healthz", headers=HTTPS)
                    response = connection.getresponse()
                    response.read()
                    statuses.append(response.status)
                except (OSError, http.client.HTTPException) as error:
                    failures.append(repr(error))
                    connection.close()
            connection.close()

        clients = [threading.Thread(target=client) for _ in range(8)]
        for thread in clients:
            thread.start()
        for thread in clients:
            thread.join()
    assert failures == []
    assert len(statuses) >= 300 and set(statuses) == {200}
    restarts = (tmp_path / "gunicorn.log").read_text().count("Booting worker")
    assert restarts >= 2 + 10, "the workers were recycled many times meanwhile"


def test_gunicorn_with_an_unapplied_migration_is_not_ready(collected_static, tmp_path):
    recorder = MigrationRecorder(connection)
    recorder.record_unapplied("incidents", "0001_initial")
    try:
        with gunicorn(production_env(collected_static, tmp_path, database_url()),
                      log_path=tmp_path / "gunicorn.log") as url:
            ready = fetch(f"{url}/readyz")
    finally:
        recorder.record_applied("incidents", "0001_initial")  # the test database outlives this test
    assert ready.status == 503
    assert json.loads(ready.body)["unapplied_migrations"] == ["incidents.0001_initial"]
    assert re.search(r"level=CRITICAL .* msg=unapplied migrations: incidents\.0001_initial",
                     (tmp_path / "app.log").read_text())


def test_database_outage_answers_503_quickly_and_recovers_without_restart(collected_static, tmp_path):
    reporter = make_user(username="outage-reporter")
    browser = Client()
    browser.force_login(reporter)
    cookie = {"Cookie": f"{settings.SESSION_COOKIE_NAME}={browser.cookies[settings.SESSION_COOKIE_NAME].value}"}
    db = connection.settings_dict
    proxy = TcpProxy(upstream=(db["HOST"] or "127.0.0.1", int(db["PORT"] or 5432)))
    proxy.start()
    env = production_env(collected_static, tmp_path, database_url(host="127.0.0.1", port=proxy.port))
    try:
        with gunicorn(env, log_path=tmp_path / "gunicorn.log") as url:
            assert fetch(f"{url}/incidents/", headers={**HTTPS, **cookie}).status == 200

            proxy.cut()
            down = fetch(f"{url}/incidents/", headers={**HTTPS, **cookie})
            not_ready = fetch(f"{url}/readyz")
            alive = fetch(f"{url}/healthz")

            proxy.start()
            started = time.monotonic()
            back = fetch(f"{url}/incidents/", headers={**HTTPS, **cookie})
            recovery = time.monotonic() - started
            ready = fetch(f"{url}/readyz")
    finally:
        proxy.cut()

    assert down.status == 503
    assert down.seconds < 5
    assert "Temporarily unavailable" in down.body.decode()
    assert down.headers["Retry-After"] == "30"
    assert not_ready.status == 503
    assert json.loads(not_ready.body)["database"] == "unreachable"
    assert alive.status == 200
    assert back.status == 200
    assert ready.status == 200
    log = (tmp_path / "app.log").read_text()
    assert "msg=database unavailable: OperationalError" in log
    assert "Traceback" not in log + (tmp_path / "gunicorn.log").read_text()
    print(f"\noutage: 503 after {down.seconds:.3f}s, readyz 503 after {not_ready.seconds:.3f}s; "
          f"recovered with 200 after {recovery:.3f}s")


def test_a_database_that_hangs_answers_503_within_the_connect_timeout(collected_static, tmp_path):
    """A host that accepts the connection and never answers must not hold the page until gunicorn's timeout."""
    with socket.socket() as hung:
        hung.bind(("127.0.0.1", free_port()))
        hung.listen(64)  # the kernel completes the handshakes; nobody ever reads or answers
        env = production_env(collected_static, tmp_path, f"postgres://nobody@127.0.0.1:{hung.getsockname()[1]}/none")
        with gunicorn(env, log_path=tmp_path / "gunicorn.log") as url:
            page = fetch(f"{url}/accounts/password-reset/MQ/set-password/", headers=HTTPS)
            ready = fetch(f"{url}/readyz")
    assert page.status == 503
    assert ready.status == 503
    assert 2.5 < page.seconds < 5  # DB_CONNECT_TIMEOUT is 3 s
    assert ready.seconds < 5
    print(f"\nhung database: page 503 after {page.seconds:.3f}s, readyz 503 after {ready.seconds:.3f}s")
