"""
`manage.py grant_app_role ROLE`, run as the tables' owner after every `migrate`: give the
application's database role what it needs on every table and sequence, and on the audit
table only INSERT and SELECT, so that the role the application runs as cannot rewrite,
delete, truncate or un-trigger history (DEPLOYMENT.md, "Two database roles").
"""
from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection, transaction

from audit.models import AuditLog


class Command(BaseCommand):
    help = "Grant a PostgreSQL role what the application needs, and only INSERT and SELECT on the audit log."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("role", help="The existing role DATABASE_URL of the running application names.")

    def handle(self, *args: Any, role: str, **options: Any) -> None:
        if connection.vendor != "postgresql":
            raise CommandError("Database roles exist only on PostgreSQL.")
        with connection.cursor() as cursor:
            cursor.execute("SELECT rolsuper OR rolname = current_user FROM pg_roles WHERE rolname = %s", [role])
            found = cursor.fetchone()
        if found is None:
            raise CommandError(f"There is no role “{role}”: create it first (DEPLOYMENT.md, “Two database roles”).")
        if found[0]:
            raise CommandError(f"“{role}” is a superuser or the role running this command: it would keep every right.")
        name, audit_table = connection.ops.quote_name(role), connection.ops.quote_name(AuditLog._meta.db_table)
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SELECT current_schema()")
            schema = connection.ops.quote_name(cursor.fetchone()[0])
            cursor.execute(f"GRANT USAGE ON SCHEMA {schema} TO {name}")
            cursor.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {schema} TO {name}")
            cursor.execute(f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {schema} TO {name}")
            cursor.execute(f"REVOKE UPDATE, DELETE, TRUNCATE, TRIGGER, REFERENCES ON {audit_table} FROM {name}")
        self.stdout.write(f"“{role}” may use every table, and only INSERT and SELECT on {AuditLog._meta.db_table}.")
