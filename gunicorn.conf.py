"""
gunicorn settings for production: `gunicorn -c gunicorn.conf.py`.

Every number can be overridden from the environment; the defaults fit a small
instance (Render starter: 0.5 CPU, 512 MB) behind a proxy that buffers requests.
"""
import gc
import ipaddress
import os
import shutil
import sys
import tempfile
import time
from typing import Any

from gunicorn.glogging import Logger
from gunicorn.workers.gthread import ThreadWorker

from incident_tracker.log import redact_path

wsgi_app = "incident_tracker.wsgi:application"

# Render and most platforms say which port to listen on.
bind = f"0.0.0.0:{os.environ.get('PORT', '8000')}"

# How long a worker that is being recycled keeps serving its kept-alive connections.
RECYCLE_LINGER_SECONDS = 2.0


class RecyclingThreadWorker(ThreadWorker):
    """
    gunicorn's threaded worker (gthread), except in how it stops after `max_requests`.

    gunicorn 23's own ends its event loop as soon as the last request is counted, and the
    process exits with its connections still open: a client that had already sent its
    next request on a kept-alive connection (the previous response said `keep-alive`),
    or that connected during that last pass of the loop, gets a connection reset instead
    of an answer (benoitc/gunicorn#3038). This one stops accepting connections, answers
    every request that still arrives with `Connection: close`, and exits once its
    connections are closed, or after RECYCLE_LINGER_SECONDS at most (an idle client's
    connection is then closed as a keep-alive timeout would close it). gunicorn 27 does
    the same; this class goes when the pin moves there.
    """

    max_requests: int

    def init_process(self) -> None:
        # gunicorn's count (with its jitter) is kept, but this worker acts on it itself.
        self.requests_before_recycling: int = self.max_requests
        self.max_requests = sys.maxsize
        self.recycle_deadline: float | None = None
        super().init_process()

    def handle_request(self, req: Any, conn: Any) -> bool:
        if self.nr + 1 >= self.requests_before_recycling and self.recycle_deadline is None:
            self.log.info("Recycling the worker after %s requests", self.nr + 1)
            self.recycle_deadline = time.time() + RECYCLE_LINGER_SECONDS
        if self.recycle_deadline is not None:
            req.must_close = True
        return bool(super().handle_request(req, conn))

    def accept(self, server: Any, listener: Any) -> None:
        if self.recycle_deadline is None:
            super().accept(server, listener)
            return
        # The other workers, and this one's successor, take the waiting connections.
        with self._lock:
            self.poller.unregister(listener)

    def murder_keepalived(self) -> None:
        """Runs on every pass of the event loop: a recycled worker stops when it has nothing left to answer."""
        if self.recycle_deadline is not None:
            with self._lock:
                for conn in self._keep:
                    conn.timeout = min(conn.timeout, self.recycle_deadline)
            if self.nr_conns <= 0 or time.time() >= self.recycle_deadline:
                self.alive = False
        super().murder_keepalived()


# Threaded workers: a slow client or a slow query holds one thread, not a whole process.
worker_class = RecyclingThreadWorker
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
threads = int(os.environ.get("GUNICORN_THREADS", "4"))

# A request still running after `timeout` seconds gets its worker killed and restarted.
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
# Render waits 30 s (maxShutdownDelaySeconds) after SIGTERM before SIGKILL; finishing
# in-flight requests must fit inside that.
graceful_timeout = int(os.environ.get("GUNICORN_GRACEFUL_TIMEOUT", "25"))
keepalive = 5

# The database gives up on a statement before gunicorn gives up on the worker, so a
# runaway query ends as a clean error page instead of a killed process.
os.environ.setdefault("DB_STATEMENT_TIMEOUT_MS", str(max(timeout - 5, 1) * 1000))

# Request size limits: long request lines and header floods are refused before Django.
limit_request_line = 8190
limit_request_fields = 100
limit_request_field_size = 8190

# Recycle workers now and then so a slow leak cannot grow without bound; the jitter
# keeps them from all restarting at the same moment. Rarely: a new worker's first
# requests compile every template and open new connections (at 1,000 requests, a worker
# of the benchmark's mix was recycled every 40 seconds).
max_requests = int(os.environ.get("GUNICORN_MAX_REQUESTS", "20000"))
max_requests_jitter = int(os.environ.get("GUNICORN_MAX_REQUESTS_JITTER", "2000"))

# The application is loaded once, in the master, and every worker (a recycled one too)
# starts from it already imported, instead of importing Django and the apps itself.
preload_app = True


def pre_fork(server: Any, worker: Any) -> None:
    """
    Loading the application checked the database (incident_tracker's start-up check)
    from the master: its connections are closed before the fork, so that no two
    processes ever share one socket. Each worker opens its own on its first request.
    """
    from django.db import connections

    connections.close_all()


def post_worker_init(worker: Any) -> None:
    """
    Once a worker has loaded the application, its tens of thousands of long-lived objects
    (modules, URL patterns, models) are moved out of the garbage collector's sight: a full
    collection would otherwise walk them all, pausing every thread of the worker for tens
    of milliseconds, the slowest of its requests.
    """
    gc.freeze()


class AccessLogger(Logger):
    """Access lines name the path without its query string, and with reset tokens masked."""

    def atoms(self, resp: Any, req: Any, environ: dict[str, Any], request_time: Any) -> dict[str, Any]:
        atoms = super().atoms(resp, req, environ, request_time)
        atoms["U"] = redact_path(atoms["U"])
        return dict(atoms)


# Access log on stdout with the response time (%(M)s, milliseconds) and the request id
# that RequestLogMiddleware returns, so a line here finds the application's lines.
logger_class = AccessLogger
accesslog = "-"
errorlog = "-"
access_log_format = '%(h)s "%(m)s %(U)s" %(s)s %(b)s %(M)sms request_id=%({x-request-id}o)s "%(a)s"'


def forwarded_allow_ips_for(trusted_proxies: str) -> str:
    """
    The peers whose X-Forwarded-Proto gunicorn believes: the same TRUSTED_PROXIES that
    Django believes X-Forwarded-For from. gunicorn 23 compares single addresses only, so
    a network in the list (Render's 10.0.0.0/8) means every peer; Django's client_ip still
    checks the network itself, and X-Forwarded-Proto only decides http or https.
    """
    entries = [entry.strip() for entry in trusted_proxies.split(",") if entry.strip()]
    if not entries:
        return "127.0.0.1,::1"
    hosts = [str(ipaddress.ip_network(entry, strict=False).network_address) for entry in entries
             if ipaddress.ip_network(entry, strict=False).num_addresses == 1]
    return ",".join(hosts) if len(hosts) == len(entries) else "*"


forwarded_allow_ips = forwarded_allow_ips_for(os.environ.get("TRUSTED_PROXIES", ""))

# /metrics adds up every worker's counts from this folder (see incident_tracker/metrics.py).
# It is made fresh at each start so counts of an earlier run are not reported again.
if "PROMETHEUS_MULTIPROC_DIR" not in os.environ:
    _metrics_dir = tempfile.mkdtemp(prefix="incident-tracker-metrics-")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = _metrics_dir

    def on_exit(server: object) -> None:
        shutil.rmtree(_metrics_dir, ignore_errors=True)
