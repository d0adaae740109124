from __future__ import annotations

import datetime
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from audit.archive import open_new_archive
from audit.services import audit_prune
from audit.verification import ChainBroken, Checkpoint, verify_stored_chain


class Command(BaseCommand):
    help = (
        "Move audit rows older than AUDIT_RETENTION_DAYS into an archive file (JSON lines, exact and verifiable) "
        "and delete them, leaving a chain that verify_audit still proves. Refuses when retention is off "
        "(the default: rows are kept forever) or the chain is already broken. Never prunes past --checkpoint, "
        "the latest checkpoint verify_audit printed and you kept elsewhere, so verify_audit --checkpoint still "
        "proves it. Needs the table owner's rights on PostgreSQL. Keep the archive off-site."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--archive", metavar="FILE", required=True, help="New file to write the pruned rows to.")
        parser.add_argument("--checkpoint", metavar="SEQUENCE:HASH", required=True,
                            help="The latest published checkpoint: verified first, and nothing after it is pruned.")

    def handle(self, *args: Any, archive: str, checkpoint: str, **options: Any) -> None:
        days = settings.AUDIT_RETENTION_DAYS
        if days <= 0:
            raise CommandError(f"AUDIT_RETENTION_DAYS is {days}: audit rows are kept forever, so nothing is pruned.")
        try:
            published = Checkpoint.parse(checkpoint)
        except ValueError as error:
            raise CommandError(str(error)) from error
        try:
            verify_stored_chain(checkpoint=published)
        except ChainBroken as broken:
            raise CommandError(f"Not pruning a broken chain: the evidence would go with it. {broken}") from broken
        before = timezone.now() - datetime.timedelta(days=days)
        with open_new_archive(archive) as stream:
            marker = audit_prune(before=before, archive=stream, checkpoint=published)
        if marker is None:
            self.stdout.write(f"No audit rows older than {days} days: nothing pruned.")
            return
        self.stdout.write(
            f"Archived and deleted {marker.changes['rows']} audit rows into {archive}; the chain now starts after "
            f"{marker.changes['through']} (recorded as row #{marker.sequence})."
        )
