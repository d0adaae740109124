"""
Audit rows written out for off-site keeping, streamed so a large range never sits in
memory. JSON lines are the exact record: every hashed field plus the row's hash, so
an archive can be checked against the chain later. CSV is for reading in a
spreadsheet: `changes` is JSON text in one cell, and cells that a spreadsheet would
run as a formula get a leading apostrophe (see common.text), so CSV is not exact.
"""
from __future__ import annotations

import csv
import json
from collections.abc import Iterable
from dataclasses import dataclass
from io import TextIOBase
from typing import Any

from django.core.management.base import CommandError
from django.core.serializers.json import DjangoJSONEncoder

from common.text import neutralise

from .models import AuditLog

FORMATS = ("jsonl", "csv")
COLUMNS = (
    "sequence", "created_at", "actor_id", "actor_username", "action", "target_type", "target_id", "target_label",
    "changes", "ip_address", "user_agent", "via", "previous_hash", "entry_hash",
)


@dataclass(frozen=True)
class ArchiveSummary:
    rows: int
    first_sequence: int | None
    last_sequence: int | None


def open_new_archive(path: str) -> TextIOBase:
    """The file an operator named for a new archive; an existing file is never overwritten."""
    try:
        return open(path, "x", encoding="utf-8", newline="")
    except FileExistsError as error:
        raise CommandError(f"{path} already exists: an archive is never overwritten.") from error
    except OSError as error:
        raise CommandError(f"Cannot write {path}: {error.strerror}.") from error


def archive_record(row: AuditLog) -> dict[str, Any]:
    return {**row.content(), "entry_hash": row.entry_hash}


def _csv_cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, (dict, list)):
        value = json.dumps(value, sort_keys=True, ensure_ascii=False, cls=DjangoJSONEncoder)
    return neutralise(str(value))


def write_archive(rows: Iterable[AuditLog], stream: TextIOBase, *, file_format: str) -> ArchiveSummary:
    """Write `rows` (in chain order) to `stream` as `file_format` and say what was written."""
    writer = csv.writer(stream) if file_format == "csv" else None
    if writer is not None:
        writer.writerow(COLUMNS)
    count, first, last = 0, None, None
    for row in rows:
        record = archive_record(row)
        if writer is not None:
            writer.writerow([_csv_cell(record.get(column, "")) for column in COLUMNS])
        else:
            stream.write(json.dumps(record, sort_keys=True, ensure_ascii=False, cls=DjangoJSONEncoder) + "\n")
        first = row.sequence if first is None else first
        last = row.sequence
        count += 1
    return ArchiveSummary(rows=count, first_sequence=first, last_sequence=last)
