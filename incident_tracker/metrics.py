"""
Prometheus metrics at /metrics: requests by view and status, request latency, database
errors, and the work queue (read from the database at each scrape, so every instance
reports the same). Off unless METRICS_TOKEN is set; scrapers send it as a bearer token.

Under gunicorn, `gunicorn.conf.py` points PROMETHEUS_MULTIPROC_DIR at a fresh folder, so
each worker writes its counts there and any worker answering a scrape reports the sum
of all of them. Without it (runserver, tests) the counts are this process's own.
"""
from __future__ import annotations

import hmac
import os

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from django.db import DatabaseError
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

from oncall import services as oncall
from outbound import queue

REQUESTS = Counter("incident_tracker_requests", "HTTP requests answered, by view and status.", ["view", "status"])
LATENCY = Histogram(
    "incident_tracker_request_duration_seconds", "Time to answer a request, by view.", ["view"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
DATABASE_ERRORS = Counter("incident_tracker_database_errors", "Requests answered 503 because the database failed.")


def observe_request(*, view: str, status: int, seconds: float) -> None:
    REQUESTS.labels(view=view, status=str(status)).inc()
    LATENCY.labels(view=view).observe(seconds)


def observe_database_error() -> None:
    DATABASE_ERRORS.inc()


def _registry() -> CollectorRegistry:
    if "PROMETHEUS_MULTIPROC_DIR" not in os.environ:
        return REGISTRY
    registry = CollectorRegistry()
    MultiProcessCollector(registry)
    return registry


class QueueCollector(Collector):
    def collect(self) -> list[Metric]:
        try:
            state = queue.state()
            paging = oncall.page_counts()
        except DatabaseError:
            return []
        return [
            GaugeMetricFamily("incident_tracker_queue_waiting_tasks", "Tasks due and not yet taken by a worker.",
                              value=state.waiting),
            GaugeMetricFamily("incident_tracker_queue_oldest_wait_seconds",
                              "How long the oldest due task has waited for a worker.", value=state.oldest_wait_seconds),
            GaugeMetricFamily("incident_tracker_queue_dead_deliveries",
                              "Mail, webhook and chat deliveries that failed every try (listed in the admin).",
                              value=state.dead),
            CounterMetricFamily("incident_tracker_oncall_pages", "On-call pages sent (one per person per step).",
                                value=paging.sent),
            GaugeMetricFamily("incident_tracker_oncall_unacknowledged_pages",
                              "Pages sent for incidents nobody has acknowledged yet.", value=paging.unacknowledged),
        ]


def _queue_registry() -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(QueueCollector())
    return registry


def has_metrics_token(request: HttpRequest) -> bool:
    """The request carries METRICS_TOKEN as its bearer token (never true while it is unset)."""
    token: str = settings.METRICS_TOKEN
    scheme, _, offered = request.headers.get("Authorization", "").partition(" ")
    return bool(token) and scheme.lower() == "bearer" and hmac.compare_digest(offered.strip().encode(), token.encode())


@never_cache
@require_GET
def metrics_view(request: HttpRequest) -> HttpResponse:
    """Unknown (404) while METRICS_TOKEN is unset; 401 without the right bearer token."""
    if not settings.METRICS_TOKEN:
        raise Http404("Metrics are disabled.")
    if not has_metrics_token(request):
        response = HttpResponse("A valid bearer token is required.\n", status=401, content_type="text/plain")
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    return HttpResponse(generate_latest(_registry()) + generate_latest(_queue_registry()),
                        content_type=CONTENT_TYPE_LATEST)
