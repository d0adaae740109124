"""Ways to tamper with the audit table directly, as an attacker with database access would."""
from __future__ import annotations

from io import StringIO

from django.core.management import call_command

from audit.models import Action, AuditLog
from audit.services import append_only_suspended, audit_record


def tamper(row: int, /, **values: object) -> None:
    with append_only_suspended():
        AuditLog.objects.filter(sequence=row).update(**values)


def remove(sequence: int) -> None:
    with append_only_suspended():
        AuditLog.objects.filter(sequence=sequence).delete()


def write_rows(count: int) -> list[AuditLog]:
    return [audit_record(Action.CATEGORY_CHANGED, actor=None, target_label=f"row {n}", changes={"n": [n, n + 1]})
            for n in range(count)]


def run_verify(*args: str) -> str:
    """verify_audit's output; raises CommandError when it fails."""
    out = StringIO()
    call_command("verify_audit", *args, stdout=out)
    return out.getvalue()
