from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from incident_tracker.health import unapplied_migrations

BASE_DIR = Path(__file__).resolve().parents[2]
# django-tasks-db's own history has a data migration without a way back (its 0013); its
# table holds only the queue, which none of ours refers to, so it stays while ours go.
IRREVERSIBLE_LIBRARY_APPS = {"django_tasks_database"}


@pytest.mark.postgresql
@pytest.mark.django_db(transaction=True)
def test_every_migration_reverses_to_zero_and_applies_again():
    """A release can be rolled back with `migrate <app> <previous>`: every step has a way back."""
    executor = MigrationExecutor(connection)
    apps = sorted({app_label for app_label, _ in executor.loader.graph.leaf_nodes()} - IRREVERSIBLE_LIBRARY_APPS)
    executor.migrate([(app_label, None) for app_label in apps])
    executor.loader.build_graph()
    assert {app_label for app_label, _ in executor.loader.applied_migrations} == IRREVERSIBLE_LIBRARY_APPS
    with connection.cursor() as cursor:
        assert "incidents_incident" not in connection.introspection.table_names(cursor)

    executor.migrate(executor.loader.graph.leaf_nodes())
    assert unapplied_migrations() == []
    with connection.cursor() as cursor:
        assert "incidents_incident" in connection.introspection.table_names(cursor)


def test_migrate_alone_makes_the_database_cache_table(tmp_path):
    """Without REDIS_URL the cache is a table: a deployment runs `migrate` and nothing else."""
    database = tmp_path / "fresh.sqlite3"
    result = subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v0"], cwd=BASE_DIR, capture_output=True,
                            text=True, env={**os.environ, "DEBUG": "true", "DATABASE_URL": f"sqlite:///{database}",
                                            "REDIS_URL": ""})
    assert result.returncode == 0, result.stderr
    with sqlite3.connect(database) as made:
        tables = {name for (name,) in made.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert "django_cache" in tables
