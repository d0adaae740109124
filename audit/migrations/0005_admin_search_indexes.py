"""
Trigram indexes for the admin's search of the audit log, which grows without bound.
The admin searches with Django's `icontains`, which PostgreSQL runs as
`UPPER(column::text) LIKE UPPER('%word%')` on each searched column; a GIN index of the
trigrams of each such expression answers it without reading every row. pg_trgm ships
with PostgreSQL and is a trusted extension, so the database's owner may create it.
"""
from django.db import migrations

from common.migrations import by_database

# Each searched column as Django's lookup spells it (an address is searched as its text, HOST()).
SEARCHED = {
    "actor_username": "UPPER(actor_username::text)",
    "target_label": "UPPER(target_label::text)",
    "target_id": "UPPER(target_id::text)",
    "ip_address": "UPPER(HOST(ip_address))",
}
INSTALL = [
    "CREATE EXTENSION IF NOT EXISTS pg_trgm",
    *(f"CREATE INDEX audit_{column}_trgm_idx ON audit_auditlog USING gin (({expression}) gin_trgm_ops)"
      for column, expression in SEARCHED.items()),
    "ANALYZE audit_auditlog",
]
# The extension stays: other database objects may have come to use it.
UNINSTALL = [f"DROP INDEX audit_{column}_trgm_idx" for column in SEARCHED]


class Migration(migrations.Migration):

    dependencies = [
        ("audit", "0004_audit_pruned_action"),
    ]

    operations = [
        migrations.RunPython(by_database(postgresql=INSTALL), by_database(postgresql=UNINSTALL)),
    ]
