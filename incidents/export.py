"""
The incident list as CSV, streamed row by row so that a large export keeps the
worker's memory flat and the first bytes leave at once. Cells a spreadsheet would run
as a formula are neutralised (common.text).
"""
from __future__ import annotations

import csv
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime, tzinfo
from typing import Any

from django.db import connections
from django.db.models import Func, IntegerField, QuerySet

from accounts.models import display_name, name_fields
from common.text import neutralise

from .models import Incident, Severity
from .workflow import Status

CHUNK_SIZE = 2000
LINES_PER_WRITE = 200
# Header and the model fields each column comes from, in order.
COLUMNS = (
    ("ID", "pk"),
    ("Title", "title"),
    ("Severity", "severity"),
    ("Status", "status"),
    ("Category", "category__name"),
    ("Reporter", "reporter"),
    ("Assignee", "assignee"),
    ("Reported at", "created_at"),
    ("Acknowledged at", "acknowledged_at"),
    ("Resolved at", "resolved_at"),
    ("Closed at", "closed_at"),
    ("Updated at", "updated_at"),
)
# People are named by display name (accounts.models.display_name), never by login name.
PEOPLE = ("reporter", "assignee")
SEVERITY_LABELS = dict(Severity.choices)
STATUS_LABELS = dict(Status.choices)


# The columns read as datetimes: on PostgreSQL, as whole seconds since the epoch instead.
TIME_FIELDS = ("created_at", "acknowledged_at", "resolved_at", "closed_at", "updated_at")


class _EpochSeconds(Func):
    """
    A time as whole seconds since 1970 (rounded down, as the CSV shows no fractions):
    an integer costs the worker next to nothing to read, where each timestamp goes
    through Python-level parsing and a time-zone conversion. With five times a row, that
    was more than half of an export's work in the worker (docs/performance.md).
    """

    template = "floor(extract(epoch from %(expressions)s))::bigint"
    output_field = IntegerField()


class _Echo:
    """A file-like object whose write returns the line, so csv.writer can feed a generator."""

    def write(self, value: str) -> str:
        return value


def _time_cells(zone: tzinfo, postgresql: bool) -> Callable[[Any], str]:
    if postgresql:
        return lambda seconds: "" if seconds is None else datetime.fromtimestamp(seconds, zone).isoformat()
    return lambda moment: "" if moment is None else moment.astimezone(zone).isoformat(timespec="seconds")


def _person(pk: int | None, first_name: str, last_name: str, is_staff: bool) -> str:
    return "" if pk is None else display_name(pk=pk, first_name=first_name, last_name=last_name, is_staff=is_staff)


def csv_lines(incidents: QuerySet[Incident], *, zone: tzinfo) -> Iterator[str]:
    """
    The header, then one line per incident; reads the rows in chunks, never all at once.
    Times are written in `zone` with their offset: it is passed in because the lines are
    produced after the view returned, when the request's time zone is no longer active.
    """
    writer = csv.writer(_Echo())
    # A byte order mark, so that spreadsheet programs read the file as UTF-8.
    yield "\ufeff" + writer.writerow([header for header, _field in COLUMNS])
    postgresql = connections[incidents.db].vendor == "postgresql"
    fields = [field for _header, field in COLUMNS if field not in TIME_FIELDS and field not in PEOPLE]
    fields += [name for person in PEOPLE for name in (f"{person}_id", *name_fields(person))]
    times = [_EpochSeconds(name) if postgresql else name for name in TIME_FIELDS]
    rows: Iterable[tuple[Any, ...]] = incidents.values_list(*fields, *times).iterator(chunk_size=CHUNK_SIZE)
    time_cell = _time_cells(zone, postgresql)
    # Lines go out a chunk at a time: one write per line would cost the server a system
    # call each, more than making the line (docs/performance.md); a chunk stays small.
    lines: list[str] = []
    for pk, title, severity, status, category, *people_and_moments in rows:
        reporter, assignee = (_person(*people_and_moments[4 * n:4 * n + 4]) for n in range(len(PEOPLE)))
        lines.append(writer.writerow([
            pk, neutralise(title), SEVERITY_LABELS.get(severity, severity), STATUS_LABELS.get(status, status),
            neutralise(category) if category else "", neutralise(reporter), neutralise(assignee),
            *(time_cell(moment) for moment in people_and_moments[4 * len(PEOPLE):]),
        ]))
        if len(lines) == LINES_PER_WRITE:
            yield "".join(lines)
            lines = []
    if lines:
        yield "".join(lines)
