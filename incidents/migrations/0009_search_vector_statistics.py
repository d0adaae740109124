"""
Finer statistics of the search document, so that PostgreSQL plans a search by how many
incidents hold its words. With the default (100) it keeps the 1,000 commonest words and
guesses every other word, including a word that is nowhere, at a few hundred matches per
million: it then walked the newest incidents looking for them and read all million rows
(0.6 s for a word that is not there). At 1,000 it keeps 10,000 words, rare words are
estimated within a few percent, and such a search reads the GIN index
(docs/performance.md, "Search").
"""
from django.db import migrations

from common.migrations import by_database

STATISTICS = [
    "ALTER TABLE incidents_incident ALTER COLUMN search_vector SET STATISTICS 1000",
    "ANALYZE incidents_incident",
]
DEFAULT_STATISTICS = ["ALTER TABLE incidents_incident ALTER COLUMN search_vector SET STATISTICS -1"]


class Migration(migrations.Migration):

    dependencies = [
        ("incidents", "0008_assignee_is_active_staff"),
    ]

    operations = [
        migrations.RunPython(by_database(postgresql=STATISTICS), by_database(postgresql=DEFAULT_STATISTICS)),
    ]
