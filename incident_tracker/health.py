"""
Liveness and readiness probes for load balancers and monitors, and the start-up check
that names unapplied migrations. `HealthCheckMiddleware` serves the probes.
"""
from __future__ import annotations

import ipaddress
import json
import logging
from functools import cache

from django.conf import settings
from django.core.cache import caches
from django.db import DatabaseError, connection
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.migrations.loader import MigrationLoader
from django.db.migrations.recorder import MigrationRecorder
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from audit.middleware import client_ip
from outbound import queue

from . import __version__
from .metrics import has_metrics_token

logger = logging.getLogger(__name__)

MigrationKey = tuple[str, str]
READINESS_CACHE_KEY = "incident_tracker:readiness"


@cache
def _migrations_on_disk() -> dict[MigrationKey, tuple[MigrationKey, ...]]:
    """
    Every migration the code ships, with the ones a squashed migration replaces. Read
    once per process: the files cannot change under a running process, and loading
    them is the expensive part of a readiness check.
    """
    graph = MigrationLoader(None, ignore_no_migrations=True).graph
    return {key: tuple(migration.replaces) for key, migration in graph.nodes.items()}


def unapplied_migrations(db: BaseDatabaseWrapper = connection) -> list[str]:
    """`app.migration` names the database has not applied; raises DatabaseError when it cannot be asked."""
    applied = MigrationRecorder(db).applied_migrations()
    return sorted(
        f"{app_label}.{name}" for (app_label, name), replaces in _migrations_on_disk().items()
        if (app_label, name) not in applied and not (replaces and all(key in applied for key in replaces))
    )


def log_unapplied_migrations() -> None:
    """
    Run once as the web server starts (wsgi.py, in gunicorn's master: preload_app), never by manage.py: a
    deployment whose `migrate` step was forgotten or failed says so in the log at
    CRITICAL, and /readyz keeps it out of the load balancer until it is fixed.
    """
    if settings.DEBUG:
        return
    try:
        pending = unapplied_migrations()
    except DatabaseError as error:
        logger.error("start-up migration check skipped: database unreachable (%s)", error.__class__.__name__)
        return
    finally:
        # The check runs in the worker's main thread, which never serves a request.
        connection.close()
    if pending:
        logger.critical("unapplied migrations: %s; /readyz answers 503 until `manage.py migrate` has run",
                        ", ".join(pending))


@never_cache
@require_safe
def healthz(request: HttpRequest) -> JsonResponse:
    """The process is up and serving; touches no database, so a database outage does not restart it."""
    return JsonResponse({"status": "ok", "version": __version__})


def cache_error() -> str | None:
    """
    Why the cache cannot be read (the dashboard needs it), or None. Any exception
    counts: each backend fails its own way (a missing `django_cache` table, Redis down).
    """
    try:
        caches["default"].get(READINESS_CACHE_KEY)
    except Exception as error:
        return error.__class__.__name__
    return None


def _queue_details() -> dict[str, object]:
    try:
        state = queue.state()
    except DatabaseError as error:
        return {"queue": "unknown", "queue_error": error.__class__.__name__}
    if state.stuck():
        logger.warning("readiness: queue stuck, the oldest due task has waited %.0f s", state.oldest_wait_seconds)
    return {"queue": "stuck" if state.stuck() else "ok", "queue_waiting": state.waiting,
            "queue_oldest_wait_seconds": round(state.oldest_wait_seconds, 1), "queue_dead": state.dead}


def may_see_details(request: HttpRequest) -> bool:
    """
    Readiness details (versions, migration names, error classes) help an attacker map the
    deployment: they go only to a caller on the machine itself (the resolved client
    address, so not everyone behind a local nginx) or one with the metrics token.
    """
    address = client_ip(request)
    return has_metrics_token(request) or (address is not None and ipaddress.ip_address(address).is_loopback)


@never_cache
@require_safe
def readyz(request: HttpRequest) -> JsonResponse:
    """
    Ready for traffic: the database answers, every migration is applied and the cache can
    be read. Anyone gets the status (and its code, which is all a load balancer reads);
    the details need may_see_details(). The details also tell whether the work queue is
    moving ("stuck" when a due task has waited past TASK_STUCK_AFTER_SECONDS, i.e. no
    worker runs); that alone does not take the site out of rotation, because the pages
    work without the workers and nothing queued is lost meanwhile.
    """
    response = _readiness()
    if may_see_details(request):
        return response
    return JsonResponse({"status": json.loads(response.content)["status"]}, status=response.status_code)


def _readiness() -> JsonResponse:
    body: dict[str, object] = {"status": "ok", "version": __version__, "database": "ok", "migrations": "applied",
                               "cache": "ok"}
    try:
        pending = unapplied_migrations()
    except DatabaseError as error:
        logger.warning("readiness: database unreachable (%s)", error.__class__.__name__)
        body.update(status="unavailable", database="unreachable", migrations="unknown", cache="unknown",
                    error=error.__class__.__name__)
        return JsonResponse(body, status=503)
    if pending:
        body.update(status="unavailable", migrations="unapplied", unapplied_migrations=pending)
    failure = cache_error()
    if failure:
        logger.warning("readiness: cache unavailable (%s)", failure)
        body.update(status="unavailable", cache="unavailable", cache_error=failure)
    body.update(_queue_details())
    return JsonResponse(body, status=200 if body["status"] == "ok" else 503)
