"""
The incident list as CSV, streamed row by row so that a large export keeps the
worker's memory flat and the first bytes leave at once.

Spreadsheets run a cell that starts with `=`, `+`, `-` or `@` (and some also after a
leading tab or carriage return) as a formula; a title such as `=HYPERLINK(...)` would
then act when the file is opened. Such cells get a leading apostrophe, which the
spreadsheet shows as text (OWASP's advice for CSV injection).
"""
from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator
from datetime import datetime, tzinfo
from typing import Any

from django.db.models import QuerySet
from django.utils import timezone

from .models import Incident, Severity
from .workflow import Status

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
CHUNK_SIZE = 2000
LINES_PER_WRITE = 200
# Header and the model fields each column comes from, in order.
COLUMNS = (
    ("ID", "pk"),
    ("Title", "title"),
    ("Severity", "severity"),
    ("Status", "status"),
    ("Category", "category__name"),
    ("Reporter", "reporter__username"),
    ("Assignee", "assignee__username"),
    ("Reported at", "created_at"),
    ("Acknowledged at", "acknowledged_at"),
    ("Resolved at", "resolved_at"),
    ("Closed at", "closed_at"),
    ("Updated at", "updated_at"),
)
SEVERITY_LABELS = dict(Severity.choices)
STATUS_LABELS = dict(Status.choices)


def neutralise(value: str) -> str:
    return f"'{value}" if value.startswith(FORMULA_PREFIXES) else value


def _cell(value: Any, zone: tzinfo) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return timezone.localtime(value, zone).isoformat(timespec="seconds")
    return neutralise(str(value))


class _Echo:
    """A file-like object whose write returns the line, so csv.writer can feed a generator."""

    def write(self, value: str) -> str:
        return value


def _values(row: tuple[Any, ...]) -> list[Any]:
    pk, title, severity, status, *rest = row
    return [pk, title, SEVERITY_LABELS.get(severity, severity), STATUS_LABELS.get(status, status), *rest]


def csv_lines(incidents: QuerySet[Incident], *, zone: tzinfo) -> Iterator[str]:
    """
    The header, then one line per incident; reads the rows in chunks, never all at once.
    Times are written in `zone` with their offset: it is passed in because the lines are
    produced after the view returned, when the request's time zone is no longer active.
    """
    writer = csv.writer(_Echo())
    # A byte order mark, so that spreadsheet programs read the file as UTF-8.
    yield "\ufeff" + writer.writerow([header for header, _field in COLUMNS])
    rows: Iterable[tuple[Any, ...]] = incidents.values_list(*(field for _header, field in COLUMNS)).iterator(
        chunk_size=CHUNK_SIZE
    )
    # Lines go out a chunk at a time: one write per line would cost the server a system
    # call each, more than making the line (docs/performance.md); a chunk stays small.
    lines: list[str] = []
    for row in rows:
        lines.append(writer.writerow([_cell(value, zone) for value in _values(row)]))
        if len(lines) == LINES_PER_WRITE:
            yield "".join(lines)
            lines = []
    if lines:
        yield "".join(lines)
