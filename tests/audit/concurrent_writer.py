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


def main(writer: str, rows: int, barrier: Path) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "incident_tracker.settings")
    django.setup()
    from audit.models import Action
    from audit.services import audit_record

    (barrier / f"ready-{writer}").touch()
    while not (barrier / "go").exists():
        time.sleep(0.01)
    for n in range(rows):
        audit_record(Action.CATEGORY_CHANGED, actor=None, target_label=f"writer {writer}", changes={"n": [n, n + 1]})


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), Path(sys.argv[3]))
