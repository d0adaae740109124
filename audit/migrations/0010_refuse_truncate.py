"""
TRUNCATE empties a table without firing its row triggers, so the append-only trigger of
0003 did not stop it. A statement trigger refuses it too, on PostgreSQL. One escape
exists for test databases, which must be emptied between tests: a session or database
setting `audit.truncate_allowed = on`. It gives nobody a power they lack: only the
table's owner (who can disable triggers anyway) or a role granted TRUNCATE can truncate
at all, and the application's role in a two-role deployment is neither (DEPLOYMENT.md).
"""
from django.db import migrations

from common.migrations import by_database

CREATE = """
CREATE FUNCTION audit_auditlog_no_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF coalesce(current_setting('audit.truncate_allowed', true), '') = 'on' THEN
        RETURN NULL;
    END IF;
    RAISE EXCEPTION 'audit_auditlog is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$;
CREATE TRIGGER audit_auditlog_no_truncate
    BEFORE TRUNCATE ON audit_auditlog
    FOR EACH STATEMENT EXECUTE FUNCTION audit_auditlog_no_truncate();
"""

DROP = """
DROP TRIGGER IF EXISTS audit_auditlog_no_truncate ON audit_auditlog;
DROP FUNCTION IF EXISTS audit_auditlog_no_truncate();
"""


class Migration(migrations.Migration):

    dependencies = [
        ("audit", "0009_enrolment_links"),
    ]

    operations = [
        migrations.RunPython(by_database(postgresql=[CREATE]), by_database(postgresql=[DROP]), elidable=False),
    ]
