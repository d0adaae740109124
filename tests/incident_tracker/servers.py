"""
Real servers for tests that watch the application from outside: gunicorn with the
production settings, a browser that keeps its cookies across them, and a TCP proxy in
front of PostgreSQL that a test can cut and restore to play a database outage without
touching the shared server.
"""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from email.message import Message
from pathlib import Path
from urllib.parse import quote, urlencode, urlsplit

from django.conf import settings
from django.db import connection

BASE_DIR = Path(__file__).resolve().parents[2]
# Ports this suite may listen on, all bound to 127.0.0.1 only: 8260-8300 unless
# TEST_SERVER_PORTS names another range ("8400-8440"), for runs that share a machine.
_first_port, _, _last_port = os.environ.get("TEST_SERVER_PORTS", "8260-8300").partition("-")
PORT_RANGE = range(int(_first_port), int(_last_port))


def free_ports(count: int, candidates: range = PORT_RANGE) -> list[int]:
    ports = []
    for port in candidates:
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            ports.append(port)
            if len(ports) == count:
                return ports
    raise RuntimeError(f"not {count} free ports in {candidates}")


def free_port() -> int:
    return free_ports(1)[0]


@dataclass
class Answer:
    status: int
    headers: Message
    body: bytes
    seconds: float


def fetch(url: str, *, headers: Mapping[str, str] | None = None, data: bytes | None = None,
          timeout: float = 20) -> Answer:
    """One GET (or a POST of `data`), error statuses included, timed; redirects are not followed."""

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args: object, **kwargs: object) -> None:
            return None

    opener = urllib.request.build_opener(NoRedirect)
    request = urllib.request.Request(url, headers=dict(headers or {}), data=data)
    started = time.monotonic()
    try:
        with opener.open(request, timeout=timeout) as response:
            return Answer(response.status, response.headers, response.read(), time.monotonic() - started)
    except urllib.error.HTTPError as error:
        return Answer(error.code, error.headers, error.read(), time.monotonic() - started)


class Browser:
    """
    One person's browser: keeps the cookies every server sets (Secure ones too, on this
    plain loopback HTTP) and sends them to any of the servers, as behind one load
    balancer. Requests say they came over HTTPS, as the platform's proxy does; a POST
    names its origin, which Django's CSRF check requires on HTTPS.
    """

    def __init__(self) -> None:
        self.cookies: dict[str, str] = {}

    def get(self, url: str) -> Answer:
        return self._send(url)

    def post(self, url: str, fields: list[tuple[str, str]]) -> Answer:
        parts = urlsplit(url)
        origin = f"https://{parts.netloc}"
        return self._send(url, data=urlencode(fields).encode(), headers={
            "Content-Type": "application/x-www-form-urlencoded", "Origin": origin, "Referer": origin + parts.path,
        })

    def _send(self, url: str, *, data: bytes | None = None, headers: Mapping[str, str] | None = None) -> Answer:
        cookie = "; ".join(f"{name}={value}" for name, value in self.cookies.items())
        answer = fetch(url, data=data, headers={"X-Forwarded-Proto": "https", **({"Cookie": cookie} if cookie else {}),
                                                **(headers or {})})
        for header in answer.headers.get_all("Set-Cookie") or []:
            name, _, rest = header.partition("=")
            self.cookies[name.strip()] = rest.split(";", 1)[0]
        return answer


def database_url(*, host: str | None = None, port: int | None = None) -> str:
    """The test database as a URL, optionally reached through another address."""
    db = connection.settings_dict
    credentials = quote(db["USER"] or "") + (":" + quote(db["PASSWORD"]) if db["PASSWORD"] else "")
    return f"postgres://{credentials}@{host or db['HOST'] or '127.0.0.1'}:{port or db['PORT'] or 5432}/{db['NAME']}"


def production_env(static_root: Path, log_dir: Path, db_url: str, *, metrics_token: str = "") -> dict[str, str]:
    """The environment of a production instance on `db_url`, with this process's SECRET_KEY."""
    return {
        "DEBUG": "false",
        # The same key as this process, so a session signed in here is valid there.
        "SECRET_KEY": settings.SECRET_KEY,
        "DATABASE_URL": db_url,
        "ALLOWED_HOSTS": "127.0.0.1",
        "SECURE_SSL_REDIRECT": "true",
        "STATIC_ROOT": str(static_root),
        "LOG_DIR": str(log_dir),
        "METRICS_TOKEN": metrics_token,
    }


@contextmanager
def gunicorn(env: Mapping[str, str], *, log_path: Path, workers: int = 1) -> Iterator[str]:
    """gunicorn.conf.py as production runs it, on 127.0.0.1; yields the base URL once /healthz answers."""
    with gunicorn_instances(env, log_paths=[log_path], workers=workers) as (base_url,):
        yield base_url


@contextmanager
def gunicorn_instances(env: Mapping[str, str], *, log_paths: list[Path], workers: int = 1) -> Iterator[list[str]]:
    """
    As many separate gunicorn processes as `log_paths`, each an instance of the same
    application as behind a load balancer, started and stopped together; yields their
    base URLs once each one's /healthz answers.
    """
    with ExitStack() as stack:
        processes = []
        for port, log_path in zip(free_ports(len(log_paths)), log_paths):
            process = subprocess.Popen(
                [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "--bind", f"127.0.0.1:{port}",
                 "--workers", str(workers), "--threads", "2"],
                cwd=BASE_DIR, env={**os.environ, **env}, stdout=stack.enter_context(open(log_path, "wb")),
                stderr=subprocess.STDOUT,
            )
            processes.append((process, f"http://127.0.0.1:{port}", log_path))
        try:
            for process, base_url, log_path in processes:
                _wait_until_healthy(process, base_url, log_path)
            yield [base_url for _process, base_url, _log_path in processes]
        finally:
            for process, _base_url, _log_path in processes:
                process.terminate()
            for process, _base_url, _log_path in processes:
                process.wait(timeout=30)


def _wait_until_healthy(process: subprocess.Popen[bytes], base_url: str, log_path: Path) -> None:
    deadline = time.monotonic() + 30
    while True:
        try:
            if fetch(f"{base_url}/healthz", timeout=2).status == 200:
                return
        except OSError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"gunicorn did not start: {log_path.read_text()}")
        time.sleep(0.2)


@dataclass
class TcpProxy:
    """Forwards 127.0.0.1:port to upstream until cut(): then every connection is reset and new ones refused."""

    upstream: tuple[str, int]
    port: int = field(default_factory=free_port)
    _listener: socket.socket | None = None
    _sockets: list[socket.socket] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen()
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def cut(self) -> None:
        with self._lock:
            doomed, self._sockets = self._sockets, []
            if self._listener is not None:
                doomed.append(self._listener)
                self._listener = None
        for sock in doomed:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            try:
                server = socket.create_connection(self.upstream, timeout=5)
            except OSError:
                client.close()
                continue
            server.settimeout(None)
            with self._lock:
                self._sockets += [client, server]
            for source, target in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(source, target), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, target: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                target.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, target):
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
