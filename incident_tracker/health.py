"""Liveness and readiness probes for load balancers and monitors."""
from __future__ import annotations

from django.db import DatabaseError, connection
from django.db.migrations.executor import MigrationExecutor
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET


@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """The process is up and serving; touches no database, so a database outage does not restart it."""
    return JsonResponse({"status": "ok"})


@never_cache
@require_GET
def readyz(request: HttpRequest) -> JsonResponse:
    """Ready for traffic: the database answers and every migration is applied."""
    try:
        executor = MigrationExecutor(connection)
        pending = [f"{migration.app_label}.{migration.name}"
                   for migration, _ in executor.migration_plan(executor.loader.graph.leaf_nodes())]
    except DatabaseError as error:
        return JsonResponse({"status": "unavailable", "database": "unreachable", "error": error.__class__.__name__},
                            status=503)
    if pending:
        return JsonResponse({"status": "unavailable", "database": "ok", "unapplied_migrations": pending}, status=503)
    return JsonResponse({"status": "ok", "database": "ok"})
