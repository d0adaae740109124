"""
The dashboard's figures for responders: incidents by severity and status, response
times and incidents per day over the last WINDOW_DAYS days. Each is read from data
shaped for it, so the cost does not grow with the table: the grid from the counts the
database keeps (IncidentCount), the last days in one aggregate over the covering index
incident_figures_idx, drawn into a template fragment kept in the shared cache until
the next write to an incident (incidents/caching.py). Python only arranges the handful of groups it gets back.
"""
from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from operator import itemgetter
from typing import Any, cast

from django.db import connection
from django.db.models import CharField, Count, DurationField, ExpressionWrapper, F, Sum, Value
from django.db.models.functions import TruncDate
from django.utils import timezone
from django.utils.functional import SimpleLazyObject

from . import caching
from .models import Incident, IncidentCount, IncidentQuerySet, Severity
from .workflow import Status

WINDOW_DAYS = 30
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


def count_grid() -> CountGrid:
    """Every incident by severity and status, from the counts the database keeps exact (IncidentCount)."""
    counts = {(row.severity, row.status): row.total for row in IncidentCount.objects.all()}
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


def _average(total: timedelta | None, count: int) -> timedelta | None:
    return total / count if total is not None and count else None


def response_times(groups: list[dict[str, Any]]) -> list[ResponseTimes]:
    """
    Average time to acknowledge and to resolve, per severity, from the window's groups
    (recent_groups). Incidents not yet acknowledged (or resolved) count in `reported`
    but not in the averages; the page shows both numbers.
    """
    totals: dict[int, dict[str, Any]] = defaultdict(lambda: {"reported": 0, "acknowledged": 0, "resolved": 0,
                                                             "to_acknowledge": None, "to_resolve": None})
    for group in groups:
        total = totals[group["severity"]]
        for name in ("reported", "acknowledged", "resolved", "to_acknowledge", "to_resolve"):
            if group[name] is not None:
                total[name] = group[name] if total[name] is None else total[name] + group[name]
    return [
        ResponseTimes(
            severity=severity, label=label, reported=totals[severity]["reported"],
            acknowledged=totals[severity]["acknowledged"],
            time_to_acknowledge=_average(totals[severity]["to_acknowledge"], totals[severity]["acknowledged"]),
            resolved=totals[severity]["resolved"],
            time_to_resolve=_average(totals[severity]["to_resolve"], totals[severity]["resolved"]),
        )
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


def daily_chart(groups: list[dict[str, Any]], *, today: date, days: int = WINDOW_DAYS) -> DailyChart:
    """
    The last `days` days up to `today` from the window's groups (recent_groups), in the
    current time zone (the user's), so that a bar is one of the reader's days, with days
    without incidents drawn as zero.
    """
    first = today - timedelta(days=days - 1)
    per_day: dict[date, int] = defaultdict(int)
    for group in groups:
        per_day[group["day"]] += group["reported"]
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


def recent_groups(*, today: date, days: int = WINDOW_DAYS) -> list[dict[str, Any]]:
    """
    Incidents reported in the last `days` of the reader's days, grouped by day and
    severity, with how many were acknowledged and resolved and how long that took in
    total: one read of the index incident_figures_idx on PostgreSQL.
    """
    return list(
        Incident.objects.filter(created_at__gte=_local_midnight(today - timedelta(days=days - 1))).order_by()
        .annotate(day=TruncDate("created_at", tzinfo=timezone.get_current_timezone()))
        .values("day", "severity")
        .annotate(reported=Count("*"), acknowledged=Count("acknowledged_at"), to_acknowledge=Sum(_elapsed("acknowledged_at")),
                  resolved=Count("resolved_at"), to_resolve=Sum(_elapsed("resolved_at")))
    )


def staff_figures(*, now: datetime) -> dict[str, Any]:
    """
    The count grid, response times and daily chart over every incident (responders see
    them all) in the time zone of `now`. The last days' figures are drawn from the
    `{% cache %}` fragment keyed by `figures_key` while no incident changed, so they are
    read from the database only when that fragment is missing: lazily.
    """
    today = now.date()
    # Read on first use, by whichever part of the fragment needs it first.
    groups = cast("list[dict[str, Any]]", SimpleLazyObject(lambda: recent_groups(today=today)))
    return {
        "grid": count_grid(),
        "response_times": SimpleLazyObject(lambda: response_times(groups)),
        "chart": SimpleLazyObject(lambda: daily_chart(groups, today=today)),
        "figures_key": f"{caching.incidents_generation()}:{now.tzinfo}:{today.isoformat()}",
        "figures_seconds": caching.KEPT_SECONDS,
    }


def first_rows(queues: Mapping[str, IncidentQuerySet], count: int) -> dict[str, list[dict[str, Any]]]:
    """
    The first `count` rows of each named queue, each in its own order, as an incident
    table's dicts (IncidentQuerySet.table_values). On PostgreSQL all of them come back
    in one round trip: a UNION ALL of the ordered, limited queries, re-sorted here by
    each queue's ordering, since a union promises no order of its own. SQLite cannot
    order the parts of a union, so there each queue is its own query.
    """
    if not connection.features.supports_slicing_ordering_in_compound:
        return {name: list(queue.table_values()[:count]) for name, queue in queues.items()}
    parts = [queue.table_values().annotate(queue=Value(name, output_field=CharField()))[:count]
             for name, queue in queues.items()]
    found: dict[str, list[dict[str, Any]]] = {name: [] for name in queues}
    for row in parts[0].union(*parts[1:], all=True):
        found[row.pop("queue")].append(row)
    for name, rows in found.items():
        ordering = queues[name].query.order_by or Incident._meta.ordering or ()
        for field in reversed([str(item) for item in ordering]):  # stable sorts, last key first
            rows.sort(key=itemgetter(field.lstrip("-")), reverse=field.startswith("-"))
    return found
