"""
Eight processes append to the chain at once, against a real committed database (the
test database on PostgreSQL, a file copy of it on SQLite), and the chain they leave
must verify: no two rows may claim the same predecessor.
"""
from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from tests.processes import database_url, run_behind_barrier

WRITERS = 8
ROWS_EACH = 40


@pytest.mark.django_db(transaction=True)
def test_eight_processes_writing_at_once_leave_a_chain_that_verifies(tmp_path):
    env = {**os.environ, "DATABASE_URL": database_url(tmp_path)}
    root = Path(settings.BASE_DIR)
    writers = {str(n): ["tests.audit.concurrent_writer", str(n), str(ROWS_EACH), str(tmp_path)] for n in range(WRITERS)}
    run_behind_barrier(writers, barrier=tmp_path, env=env)

    verified = subprocess.run([sys.executable, "manage.py", "verify_audit", "--chunk-size", "50"], cwd=root, env=env,
                              capture_output=True, text=True, timeout=300)
    assert verified.returncode == 0, verified.stderr
    assert f"Verified {WRITERS * ROWS_EACH} rows: the audit chain is intact." in verified.stdout

    order = written_order(env["DATABASE_URL"])
    switches = sum(1 for before, after in zip(order, order[1:]) if before != after)
    assert switches > WRITERS - 1, "the writers ran one after another, so nothing was tested"


def written_order(url: str) -> list[str]:
    """Which writer wrote each row, in chain order."""
    query = "SELECT target_label FROM audit_auditlog ORDER BY sequence"
    if url.startswith("sqlite:///"):
        with sqlite3.connect(url.removeprefix("sqlite:///")) as db:
            return [label for (label,) in db.execute(query)]
    with connection.cursor() as cursor:
        cursor.execute(query)
        return [label for (label,) in cursor.fetchall()]
