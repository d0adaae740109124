"""
Real concurrency: separate OS processes, each with its own database connection,
released at the same moment against the committed test database. A child announces
itself and waits with `wait_at_barrier`; the test starts and releases them with
`run_behind_barrier`.
"""
from __future__ import annotations

import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from urllib.parse import quote

from django.conf import settings
from django.db import connection

# Long enough for a busy two-core machine to start Python, Django and a child's first request.
START_TIMEOUT = 120
RUN_TIMEOUT = 300


def database_url(tmp_path: Path) -> str:
    """A URL the child processes can open for the database this test uses."""
    if connection.vendor == "sqlite":
        # The test database lives in this process's memory; the children share a file copy of it.
        path = tmp_path / "database.sqlite3"
        connection.ensure_connection()
        with sqlite3.connect(path) as target:
            connection.connection.backup(target)
        return f"sqlite:///{path}"
    db = connection.settings_dict
    credentials = quote(db["USER"] or "") + (f":{quote(db['PASSWORD'])}" if db["PASSWORD"] else "")
    return f"postgres://{credentials}@{db['HOST'] or 'localhost'}:{db['PORT'] or 5432}/{quote(db['NAME'])}"


def wait_for(condition: Callable[[], bool], *, timeout: float = START_TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "the processes did not get ready in time"
        time.sleep(0.05)


def wait_at_barrier(barrier: Path, name: str) -> None:
    """In a child: say it is ready, then wait until every child is and the test says go."""
    (barrier / f"ready-{name}").touch()
    while not (barrier / "go").exists():
        time.sleep(0.005)


def run_behind_barrier(children: Mapping[str, list[str]], *, barrier: Path, env: Mapping[str, str]) -> dict[str, str]:
    """
    Start each child (`python -m <module> <args>`, run from the project folder with
    `env`), release them all at once when every one is waiting at the barrier, and
    return what each printed. A child that fails fails the test with its error output.
    """
    processes = {
        name: subprocess.Popen([sys.executable, "-m", *command], cwd=settings.BASE_DIR, env=dict(env),
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for name, command in children.items()
    }
    try:
        wait_for(lambda: all((barrier / f"ready-{name}").exists() or process.poll() is not None
                             for name, process in processes.items()))
        (barrier / "go").touch()
        outputs = {name: process.communicate(timeout=RUN_TIMEOUT) for name, process in processes.items()}
    finally:
        for process in processes.values():
            process.kill()
    failures = [f"{name}: {error}" for name, (_, error) in outputs.items() if processes[name].returncode != 0]
    assert not failures, "\n".join(failures)
    return {name: output for name, (output, _) in outputs.items()}
