from __future__ import annotations

import logging
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from audit.verification import ChainBroken, Checkpoint, verify_stored_chain

# Its own logger, so that operators can ship these lines (and only these) somewhere the
# database's writers cannot reach: a checkpoint kept there catches a chain rewritten whole.
checkpoint_log = logging.getLogger("audit.checkpoint")


class Command(BaseCommand):
    help = (
        "Walk the audit log's hash chain and prove it intact, or name the first row that was altered, deleted or "
        "inserted out of order. Prints the head as a checkpoint: keep it somewhere else and pass it back with "
        "--checkpoint to also catch rows cut from the end."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--checkpoint", metavar="SEQUENCE:HASH",
            help="A head printed by an earlier run; the chain must still contain that exact row.",
        )
        parser.add_argument(
            "--chunk-size", type=int, default=2000,
            help="Rows fetched per round trip; memory use stays flat whatever the size of the log (default 2000).",
        )

    def handle(self, *args: Any, checkpoint: str | None, chunk_size: int, **options: Any) -> None:
        if chunk_size < 1:
            raise CommandError("--chunk-size must be a positive number of rows.")
        try:
            expected = Checkpoint.parse(checkpoint) if checkpoint is not None else None
        except ValueError as error:
            raise CommandError(str(error)) from error
        try:
            report = verify_stored_chain(checkpoint=expected, chunk_size=chunk_size)
        except ChainBroken as broken:
            checkpoint_log.error("Audit chain broken at row #%s: %s", broken.sequence, broken)
            raise CommandError(f"Audit chain broken. {broken}") from broken
        if report.head is None:
            self.stdout.write("The audit log is empty: nothing to verify.")
            return
        self.stdout.write(f"Verified {report.rows} rows: the audit chain is intact.")
        self.stdout.write(f"Head: row #{report.head.sequence}, hash {report.head.entry_hash}")
        self.stdout.write(f"Checkpoint: {report.head}")
        checkpoint_log.info("Audit checkpoint %s (%s rows verified)", report.head, report.rows,
                            extra={"checkpoint": str(report.head)})
