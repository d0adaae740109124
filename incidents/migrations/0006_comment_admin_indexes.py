"""
Indexes for the admin's comment list at half a million comments: newest first (and the
date filter), and, on PostgreSQL, a trigram index for its search. The admin searches a
comment's body with Django's `icontains`, which PostgreSQL runs as
`UPPER(body) LIKE UPPER('%word%')`; a GIN index of the trigrams of UPPER(body) answers
that without reading every comment. pg_trgm ships with PostgreSQL and is a trusted
extension, so the database's owner may create it.
"""
from django.conf import settings
from django.db import migrations, models

from common.migrations import by_database


INSTALL = [
    "CREATE EXTENSION IF NOT EXISTS pg_trgm",
    "CREATE INDEX comment_body_trgm_idx ON incidents_comment USING gin (UPPER(body) gin_trgm_ops)",
    # Statistics of the indexed expression, without which the planner guesses that any
    # word is rare and reads every match to sort it, instead of the newest few.
    "ANALYZE incidents_comment",
]
# The extension stays: other database objects may have come to use it.
UNINSTALL = ["DROP INDEX comment_body_trgm_idx"]


class Migration(migrations.Migration):

    dependencies = [
        ('incidents', '0005_incident_counts'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddIndex(
            model_name='comment',
            index=models.Index(fields=['-created_at', '-id'], name='comment_created_idx'),
        ),
        migrations.RunPython(by_database(postgresql=INSTALL), by_database(postgresql=UNINSTALL)),
    ]
