"""
On PostgreSQL the database itself refuses UPDATE and DELETE on the audit table, so
no code path (the ORM, the admin, a stray shell session) can rewrite history. SQLite
has no equivalent worth the name; there `verify_audit` is the guard.
"""
from django.db import migrations

from common.migrations import by_database

CREATE = """
CREATE FUNCTION audit_auditlog_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_auditlog is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$;
CREATE TRIGGER audit_auditlog_append_only
    BEFORE UPDATE OR DELETE ON audit_auditlog
    FOR EACH ROW EXECUTE FUNCTION audit_auditlog_append_only();
"""

DROP = """
DROP TRIGGER IF EXISTS audit_auditlog_append_only ON audit_auditlog;
DROP FUNCTION IF EXISTS audit_auditlog_append_only();
"""


class Migration(migrations.Migration):

    dependencies = [
        ("audit", "0002_chain_hardening"),
    ]

    operations = [
        migrations.RunPython(by_database(postgresql=[CREATE]), by_database(postgresql=[DROP]), elidable=False),
    ]
