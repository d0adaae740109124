"""
`manage.py run_worker`: the queue's worker. Any number may run, on any machine that
shares the database: each claims a task with a row lock (SKIP LOCKED), so no two take
the same one. Options are django-tasks-db's `db_worker` (`--help`).
"""
from __future__ import annotations

import logging
import threading
import time
from typing import Any

from django.db import DatabaseError, connection
from django_tasks_db.management.commands.db_worker import Command as DatabaseWorkerCommand

from outbound import queue

logger = logging.getLogger(__name__)

SWEEP_INTERVAL_SECONDS = 60


def sweep_once() -> None:
    """Take up the work of workers that died (queue.sweep); a database outage only skips a round."""
    try:
        queue.sweep()
    except DatabaseError as error:
        logger.warning("queue sweep skipped: %s", error.__class__.__name__)
    finally:
        connection.close()


def sweep_forever() -> None:
    while True:
        time.sleep(SWEEP_INTERVAL_SECONDS)
        sweep_once()


class Command(DatabaseWorkerCommand):
    help = "Run a worker that sends queued mail, webhooks and chat messages, retrying failures."

    def handle(self, *args: Any, **options: Any) -> None:
        sweep_once()
        threading.Thread(target=sweep_forever, name="queue-sweep", daemon=True).start()
        super().handle(*args, **options)
