"""
The dashboard's figures. Each is one aggregate query over the incidents the user may
see, grouped in the database; Python only arranges the handful of groups it gets back
(never the rows), so the cost does not grow with the table beyond what its indexes
serve. Responders' figures cover every incident, so they are computed once a minute
and shared (staff_figures).
"""
from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import partial
from operator import attrgetter
from typing import Any

from django.core.cache import cache
from django.db import connection
from django.db.models import Avg, CharField, Count, DurationField, ExpressionWrapper, F, Q, QuerySet, Value
from django.db.models.functions import TruncDate
from django.utils import timezone
from django.utils.functional import SimpleLazyObject

from incident_tracker import __version__

from .models import Incident, Severity
from .workflow import Status

WINDOW_DAYS = 30
# How old the responders' figures may be. At a million incidents the count grid reads a
# whole index (about 100 ms); once a minute per instance keeps that off nearly every request.
FIGURES_CACHE_SECONDS = 60
UNRESOLVED = (Status.OPEN, Status.IN_PROGRESS)


@dataclass(frozen=True)
class SeverityRow:
    severity: int
    label: str
    by_status: list[int]
    total: int


@dataclass(frozen=True)
class CountGrid:
    """Incidents by severity (rows) and status (columns), with the totals of each."""

    statuses: list[tuple[str, str]]
    rows: list[SeverityRow]
    status_totals: list[int]
    total: int


def count_grid(incidents: QuerySet[Incident]) -> CountGrid:
    counts = {
        (group["severity"], group["status"]): group["n"]
        for group in incidents.order_by().values("severity", "status").annotate(n=Count("id"))
    }
    statuses = list(Status.choices)
    rows = []
    for severity, label in Severity.choices:
        by_status = [counts.get((severity, status), 0) for status, _label in statuses]
        rows.append(SeverityRow(severity, label, by_status, sum(by_status)))
    status_totals = [sum(row.by_status[index] for row in rows) for index in range(len(statuses))]
    return CountGrid(statuses, rows, status_totals, sum(status_totals))


@dataclass(frozen=True)
class ResponseTimes:
    severity: int
    label: str
    reported: int
    acknowledged: int
    time_to_acknowledge: timedelta | None
    resolved: int
    time_to_resolve: timedelta | None


def _elapsed(field: str) -> ExpressionWrapper:
    """How long after being reported the incident reached `field`."""
    return ExpressionWrapper(F(field) - F("created_at"), output_field=DurationField())


def response_times(incidents: QuerySet[Incident], *, since: datetime) -> list[ResponseTimes]:
    """
    Average time to acknowledge and to resolve, per severity, over the incidents
    reported since `since`. Ones not yet acknowledged (or resolved) count in
    `reported` but not in the averages; the page shows both numbers.
    """
    groups = {
        group.pop("severity"): group
        for group in incidents.filter(created_at__gte=since).order_by().values("severity").annotate(
            reported=Count("id"),
            acknowledged=Count("id", filter=Q(acknowledged_at__isnull=False)),
            time_to_acknowledge=Avg(_elapsed("acknowledged_at")),
            resolved=Count("id", filter=Q(resolved_at__isnull=False)),
            time_to_resolve=Avg(_elapsed("resolved_at")),
        )
    }
    empty = {"reported": 0, "acknowledged": 0, "time_to_acknowledge": None, "resolved": 0, "time_to_resolve": None}
    return [
        ResponseTimes(severity=severity, label=label, **groups.get(severity, empty))
        for severity, label in Severity.choices
    ]


@dataclass(frozen=True)
class Bar:
    day: date
    count: int
    x: float
    y: float
    height: float


@dataclass(frozen=True)
class DailyChart:
    """Incidents reported per day, laid out for an inline SVG (coordinates in the viewBox)."""

    bars: list[Bar]
    total: int
    peak: int
    width: int
    height: int
    plot_left: int
    plot_right: int
    plot_bottom: int
    bar_width: float
    ticks: list[tuple[int, float]]
    labels: list[tuple[date, float]]


CHART_WIDTH, CHART_HEIGHT = 960, 220
PLOT_LEFT, PLOT_RIGHT, PLOT_TOP, PLOT_BOTTOM = 40, 940, 12, 192
MAX_TICKS = 4
LABEL_EVERY_DAYS = 7


def _local_midnight(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min))


def daily_chart(incidents: QuerySet[Incident], *, today: date, days: int = WINDOW_DAYS) -> DailyChart:
    """
    The last `days` days up to `today`, in the current time zone (the user's), so that
    a bar is one of the reader's days, with days without incidents drawn as zero.
    """
    first = today - timedelta(days=days - 1)
    per_day = dict(
        incidents.filter(created_at__gte=_local_midnight(first))
        .order_by()
        .annotate(day=TruncDate("created_at", tzinfo=timezone.get_current_timezone()))
        .values_list("day")
        .annotate(n=Count("id"))
    )
    counts = [(first + timedelta(days=offset), per_day.get(first + timedelta(days=offset), 0)) for offset in range(days)]
    peak = max((count for _day, count in counts), default=0)
    # Whole-number gridlines, at most MAX_TICKS above zero, with the top one at or above the peak.
    step = max(1, math.ceil(peak / MAX_TICKS))
    scale_max = step * max(1, math.ceil(peak / step))
    plot_height = PLOT_BOTTOM - PLOT_TOP
    slot = (PLOT_RIGHT - PLOT_LEFT) / days
    bars = []
    for index, (day, count) in enumerate(counts):
        height = plot_height * count / scale_max
        bars.append(Bar(day, count, PLOT_LEFT + index * slot + 1, PLOT_BOTTOM - height, height))
    ticks = [(value, PLOT_BOTTOM - plot_height * value / scale_max) for value in range(0, scale_max + 1, step)]
    labels = [(bar.day, bar.x + slot / 2) for bar in bars[::-1][::LABEL_EVERY_DAYS]]
    return DailyChart(
        bars=bars, total=sum(count for _day, count in counts), peak=peak, width=CHART_WIDTH, height=CHART_HEIGHT,
        plot_left=PLOT_LEFT, plot_right=PLOT_RIGHT, plot_bottom=PLOT_BOTTOM, bar_width=slot - 2, ticks=ticks, labels=labels,
    )


def staff_figures(incidents: QuerySet[Incident], *, now: datetime) -> dict[str, Any]:
    """
    The count grid, response times and daily chart over `incidents` (every incident:
    responders see them all, so they all share one cached copy per time zone and day),
    at most FIGURES_CACHE_SECONDS old.
    """

    def compute() -> dict[str, Any]:
        return {
            "grid": count_grid(incidents),
            "response_times": response_times(incidents, since=now - timedelta(days=WINDOW_DAYS)),
            "chart": daily_chart(incidents, today=now.date()),
        }

    # The release is part of the key: figures kept by another release may not unpickle here.
    key = f"dashboard-figures:{__version__}:{now.tzinfo}:{now.date().isoformat()}"

    def cached() -> dict[str, Any]:
        figures = cache.get_or_set(key, compute, FIGURES_CACHE_SECONDS)
        assert isinstance(figures, dict)
        return figures

    # The template caches its markup of the figures under the same key and lifetime, so
    # the figures themselves are read only when that markup is missing: lazily.
    figures = SimpleLazyObject(cached)
    return {
        **{name: SimpleLazyObject(partial(figures.__getitem__, name)) for name in ("grid", "response_times", "chart")},
        "figures_key": key, "figures_seconds": FIGURES_CACHE_SECONDS,
    }


def first_rows(queues: Mapping[str, QuerySet[Incident]], count: int) -> dict[str, list[Incident]]:
    """
    The first `count` rows of each named queue, each in its own order. On PostgreSQL all
    of them come back in one round trip: a UNION ALL of the ordered, limited queries,
    re-sorted here by each queue's ordering, since a union promises no order of its
    own. SQLite cannot order the parts of a union, so there each queue is its own query.
    """
    if not connection.features.supports_slicing_ordering_in_compound:
        return {name: list(queue[:count]) for name, queue in queues.items()}
    parts = [queue.annotate(queue=Value(name, output_field=CharField()))[:count] for name, queue in queues.items()]
    found: dict[str, list[Incident]] = {name: [] for name in queues}
    for row in parts[0].union(*parts[1:], all=True):
        found[row.queue].append(row)
    for name, rows in found.items():
        ordering = queues[name].query.order_by or Incident._meta.ordering or ()
        for field in reversed([str(item) for item in ordering]):  # stable sorts, last key first
            rows.sort(key=attrgetter(field.lstrip("-")), reverse=field.startswith("-"))
    return found
