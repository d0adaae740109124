from __future__ import annotations

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from incident_tracker.health import unapplied_migrations


@pytest.mark.postgresql
@pytest.mark.django_db(transaction=True)
def test_every_migration_reverses_to_zero_and_applies_again():
    """A release can be rolled back with `migrate <app> <previous>`: every step has a way back."""
    executor = MigrationExecutor(connection)
    apps = sorted({app_label for app_label, _ in executor.loader.graph.leaf_nodes()})
    executor.migrate([(app_label, None) for app_label in apps])
    executor.loader.build_graph()
    assert executor.loader.applied_migrations == {}
    with connection.cursor() as cursor:
        assert "incidents_incident" not in connection.introspection.table_names(cursor)

    executor.migrate(executor.loader.graph.leaf_nodes())
    assert unapplied_migrations() == []
    with connection.cursor() as cursor:
        assert "incidents_incident" in connection.introspection.table_names(cursor)
