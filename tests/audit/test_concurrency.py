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
import time
from pathlib import Path
from urllib.parse import quote

import pytest
from django.conf import settings
from django.db import connection

WRITERS = 8
ROWS_EACH = 40


def database_url(tmp_path: Path) -> str:
    """A URL the child processes can open for the database this test uses."""
    if connection.vendor == "sqlite":
        # The test database lives in this process's memory; the writers share a file copy of it.
        path = tmp_path / "audit.sqlite3"
        connection.ensure_connection()
        with sqlite3.connect(path) as target:
            connection.connection.backup(target)
        return f"sqlite:///{path}"
    db = connection.settings_dict
    credentials = quote(db["USER"] or "") + (f":{quote(db['PASSWORD'])}" if db["PASSWORD"] else "")
    return f"postgres://{credentials}@{db['HOST'] or 'localhost'}:{db['PORT'] or 5432}/{quote(db['NAME'])}"


def wait_for(condition, *, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "the writers did not get ready in time"
        time.sleep(0.05)


@pytest.mark.django_db(transaction=True)
def test_eight_processes_writing_at_once_leave_a_chain_that_verifies(tmp_path):
    env = {**os.environ, "DATABASE_URL": database_url(tmp_path)}
    root = Path(settings.BASE_DIR)
    writers = [
        subprocess.Popen([sys.executable, "-m", "tests.audit.concurrent_writer", str(n), str(ROWS_EACH), str(tmp_path)],
                         cwd=root, env=env, stderr=subprocess.PIPE, text=True)
        for n in range(WRITERS)
    ]
    try:
        wait_for(lambda: len(list(tmp_path.glob("ready-*"))) == WRITERS)
        (tmp_path / "go").touch()
        failures = [writer.communicate(timeout=300)[1] for writer in writers if writer.wait(timeout=300) != 0]
    finally:
        for writer in writers:
            writer.kill()
    assert not failures, failures[0]

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
