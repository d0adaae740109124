"""
One of the processes of test_concurrency: `python -m tests.audit.concurrent_writer
WRITER ROWS BARRIER_DIR` appends ROWS audit rows to the database named by DATABASE_URL,
starting only when the test says go, so that every writer competes for the chain head.
"""
from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import django

from tests.processes import wait_at_barrier

# A web request appends a row and then does other work. Pausing that long between
# appends lets the other writers in: without it SQLite's busy handler (which sleeps,
# then retries) lets the writer that holds the lock take it again and again, and the
# writers would run one after another instead of competing.
PAUSE_BETWEEN_APPENDS = 0.02


def main(writer: str, rows: int, barrier: Path) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "incident_tracker.settings")
    django.setup()
    from audit.models import Action
    from audit.services import audit_record

    wait_at_barrier(barrier, writer)
    for n in range(rows):
        audit_record(Action.CATEGORY_CHANGED, actor=None, target_label=f"writer {writer}", changes={"n": [n, n + 1]})
        time.sleep(PAUSE_BETWEEN_APPENDS)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), Path(sys.argv[3]))
