"""
gunicorn settings for production: `gunicorn -c gunicorn.conf.py`.

Every number can be overridden from the environment; the defaults fit a small
instance (Render starter: 0.5 CPU, 512 MB) behind a proxy that buffers requests.
"""
import gc
import os
import shutil
import tempfile
from typing import Any

from gunicorn.glogging import Logger

from incident_tracker.log import redact_path

wsgi_app = "incident_tracker.wsgi:application"

# Render and most platforms say which port to listen on.
bind = f"0.0.0.0:{os.environ.get('PORT', '8000')}"

# Threaded workers: a slow client or a slow query holds one thread, not a whole process.
worker_class = "gthread"
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
# keeps them from all restarting at the same moment.
max_requests = int(os.environ.get("GUNICORN_MAX_REQUESTS", "1000"))
max_requests_jitter = int(os.environ.get("GUNICORN_MAX_REQUESTS_JITTER", "100"))


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

# Render's proxy (or nginx on the same host) sets X-Forwarded-For and X-Forwarded-Proto.
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "*")

# /metrics adds up every worker's counts from this folder (see incident_tracker/metrics.py).
# It is made fresh at each start so counts of an earlier run are not reported again.
if "PROMETHEUS_MULTIPROC_DIR" not in os.environ:
    _metrics_dir = tempfile.mkdtemp(prefix="incident-tracker-metrics-")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = _metrics_dir

    def on_exit(server: object) -> None:
        shutil.rmtree(_metrics_dir, ignore_errors=True)
