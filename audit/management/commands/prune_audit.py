from __future__ import annotations

import datetime
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from audit.archive import open_new_archive
from audit.services import audit_prune
from audit.verification import ChainBroken, verify_stored_chain


class Command(BaseCommand):
    help = (
        "Move audit rows older than AUDIT_RETENTION_DAYS into an archive file (JSON lines, exact and verifiable) "
        "and delete them, leaving a chain that verify_audit still proves. Refuses when retention is off "
        "(the default: rows are kept forever) or the chain is already broken. Needs the table owner's rights "
        "on PostgreSQL. Keep the archive off-site."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--archive", metavar="FILE", required=True, help="New file to write the pruned rows to.")

    def handle(self, *args: Any, archive: str, **options: Any) -> None:
        days = settings.AUDIT_RETENTION_DAYS
        if days <= 0:
            raise CommandError(f"AUDIT_RETENTION_DAYS is {days}: audit rows are kept forever, so nothing is pruned.")
        try:
            verify_stored_chain()
        except ChainBroken as broken:
            raise CommandError(f"Not pruning a broken chain: the evidence would go with it. {broken}") from broken
        before = timezone.now() - datetime.timedelta(days=days)
        with open_new_archive(archive) as stream:
            marker = audit_prune(before=before, archive=stream)
        if marker is None:
            self.stdout.write(f"No audit rows older than {days} days: nothing pruned.")
            return
        self.stdout.write(
            f"Archived and deleted {marker.changes['rows']} audit rows into {archive}; the chain now starts after "
            f"{marker.changes['through']} (recorded as row #{marker.sequence})."
        )
