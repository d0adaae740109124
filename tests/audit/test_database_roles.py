"""The application's own database role may append to the audit log and read it, and nothing else."""
from __future__ import annotations

import uuid

import pytest
from django.core.management import CommandError, call_command
from django.db import DatabaseError, connection, transaction

from audit.models import Action, AuditLog
from audit.services import audit_record

pytestmark = pytest.mark.django_db


@pytest.fixture
def app_role():
    """A role of this test only (roles belong to the whole server), removed with whatever it was granted."""
    role = f"test_app_{uuid.uuid4().hex[:12]}"
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE ROLE {role} NOLOGIN")
    yield role
    with connection.cursor() as cursor:
        cursor.execute(f"DROP OWNED BY {role}")
        cursor.execute(f"DROP ROLE {role}")


def as_role(role: str, statement: str) -> None:
    """
    Run `statement` as `role`. The test runs in a transaction, so SET LOCAL would outlive
    this savepoint when it succeeds: the role and the setting are reset by hand.
    """
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"SET LOCAL ROLE {role}")
        cursor.execute("SET LOCAL audit.truncate_allowed = 'off'")
        cursor.execute(statement)
        cursor.execute("RESET ROLE")
        cursor.execute("RESET audit.truncate_allowed")


@pytest.mark.postgresql
def test_the_app_role_appends_and_reads_the_audit_log_but_cannot_rewrite_it(app_role, capsys):
    call_command("grant_app_role", app_role)
    assert "only INSERT and SELECT on audit_auditlog" in capsys.readouterr().out
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"SET LOCAL ROLE {app_role}")
        audit_record(Action.SIGNED_OUT, actor=None, target_label="written by the app role")
        assert AuditLog.objects.count() == 1
        cursor.execute("RESET ROLE")
    for statement in ("UPDATE audit_auditlog SET target_label = 'x'", "DELETE FROM audit_auditlog",
                      "TRUNCATE audit_auditlog", "ALTER TABLE audit_auditlog DISABLE TRIGGER ALL"):
        with pytest.raises(DatabaseError, match="permission denied|must be owner"):
            as_role(app_role, statement)
    as_role(app_role, "UPDATE incidents_category SET name = name")
    assert AuditLog.objects.get().target_label == "written by the app role"


@pytest.mark.postgresql
def test_an_unknown_role_or_a_superuser_is_refused():
    with pytest.raises(CommandError, match="There is no role “nobody_here”"):
        call_command("grant_app_role", "nobody_here")
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_user")
        me = cursor.fetchone()[0]
    with pytest.raises(CommandError, match="superuser or the role running this command"):
        call_command("grant_app_role", me)


def test_sqlite_has_no_roles(settings):
    if connection.vendor == "postgresql":
        pytest.skip("this is the answer on SQLite; PostgreSQL has roles")
    with pytest.raises(CommandError, match="Database roles exist only on PostgreSQL."):
        call_command("grant_app_role", "anyone")
