"""
What the apps' migrations share: SQL that differs by database (PostgreSQL's triggers,
GIN and trigram indexes; SQLite's own triggers), run from RunPython so that each
database gets only the statements it understands.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

MigrationStep = Callable[[Any, Any], None]


def by_database(*, postgresql: Sequence[str] = (), sqlite: Sequence[str] = ()) -> MigrationStep:
    """A RunPython step that executes the statements written for the database it runs on."""
    def run(apps: Any, schema_editor: Any) -> None:
        statements = postgresql if schema_editor.connection.vendor == "postgresql" else sqlite
        for statement in statements:
            schema_editor.execute(statement, params=None)
    return run
