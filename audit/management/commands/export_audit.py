from __future__ import annotations

import datetime
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from audit.archive import FORMATS, ArchiveSummary, open_new_archive, write_archive
from audit.models import Action, AuditLog
from audit.services import audit_record


def moment(text: str, option: str) -> datetime.datetime:
    """A date (midnight, in the site's time zone) or a date and time; anything else is refused by name."""
    try:
        parsed = parse_datetime(text) or parse_date(text)
    except ValueError:
        parsed = None
    if parsed is None:
        raise CommandError(f"{option} “{text}” is not a date: use YYYY-MM-DD or YYYY-MM-DDTHH:MM[:SS][+HH:MM].")
    if not isinstance(parsed, datetime.datetime):
        parsed = datetime.datetime.combine(parsed, datetime.time.min)
    return parsed if timezone.is_aware(parsed) else timezone.make_aware(parsed)


class Command(BaseCommand):
    help = (
        "Write the audit rows created from --since (inclusive) until --until (exclusive) as JSON lines (exact, "
        "with each row's hash, for off-site archiving) or CSV (for spreadsheets). Streams; records the export."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--since", required=True, help="First day (YYYY-MM-DD) or moment included.")
        parser.add_argument("--until", required=True, help="First day (YYYY-MM-DD) or moment no longer included.")
        parser.add_argument("--format", choices=FORMATS, default="jsonl", dest="file_format", help="Default: jsonl.")
        parser.add_argument("--output", metavar="FILE", help="Write here instead of standard output.")

    def handle(self, *args: Any, since: str, until: str, file_format: str, output: str | None, **options: Any) -> None:
        start, end = moment(since, "--since"), moment(until, "--until")
        if start >= end:
            raise CommandError("--since must be earlier than --until.")
        rows = AuditLog.objects.filter(created_at__gte=start, created_at__lt=end).in_chain_order().iterator(chunk_size=2000)
        if output is None:
            summary = write_archive(rows, self.stdout, file_format=file_format)
            report = self.stderr
        else:
            with open_new_archive(output) as stream:
                summary = write_archive(rows, stream, file_format=file_format)
            report = self.stdout
        self._record(summary, start=start, end=end, file_format=file_format)
        span = f"rows #{summary.first_sequence} to #{summary.last_sequence}" if summary.rows else "no rows"
        report.write(f"Exported {summary.rows} audit rows ({span}) as {file_format}.")

    def _record(self, summary: ArchiveSummary, *, start: datetime.datetime, end: datetime.datetime,
                file_format: str) -> None:
        audit_record(
            Action.AUDIT_EXPORTED, actor=None, target_label=f"Audit log as {file_format}",
            changes={"since": start, "until": end, "rows": summary.rows,
                     "sequences": [summary.first_sequence, summary.last_sequence]},
        )
