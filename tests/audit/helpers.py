"""Ways to tamper with the audit table directly, as an attacker with database access would."""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from io import StringIO

from django.core.management import call_command
from django.db import connection

from audit.models import Action, AuditLog
from audit.services import audit_record


@contextmanager
def append_only_trigger_disabled() -> Iterator[None]:
    """PostgreSQL refuses UPDATE and DELETE on the table; the table owner can switch that off, as an attacker could."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ALTER TABLE audit_auditlog DISABLE TRIGGER audit_auditlog_append_only")
    try:
        yield
    finally:
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("ALTER TABLE audit_auditlog ENABLE TRIGGER audit_auditlog_append_only")


def tamper(row: int, /, **values: object) -> None:
    with append_only_trigger_disabled():
        AuditLog.objects.filter(sequence=row).update(**values)


def remove(sequence: int) -> None:
    with append_only_trigger_disabled():
        AuditLog.objects.filter(sequence=sequence).delete()


def write_rows(count: int) -> list[AuditLog]:
    return [audit_record(Action.CATEGORY_CHANGED, actor=None, target_label=f"row {n}", changes={"n": [n, n + 1]})
            for n in range(count)]


def run_verify(*args: str) -> str:
    """verify_audit's output; raises CommandError when it fails."""
    out = StringIO()
    call_command("verify_audit", *args, stdout=out)
    return out.getvalue()
