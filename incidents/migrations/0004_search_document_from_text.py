"""
The search document's weighting in one function of the texts themselves, which the
incident's own function now calls: a bulk load computes the documents of a batch with
it, in a second connection, before the rows exist (incidents/seeding.py).
"""
from importlib import import_module

from django.db import migrations

from common.migrations import by_database

_search_migration = import_module("incidents.migrations.0002_search_and_list_indexes")

TEXT_DOCUMENT_FUNCTION = """
CREATE FUNCTION incidents_search_text_document(p_title text, p_description text, p_comments text)
RETURNS tsvector LANGUAGE sql IMMUTABLE AS $$
    SELECT setweight(to_tsvector('english', coalesce(p_title, '')), 'A')
        || setweight(to_tsvector('english', coalesce(p_description, '')), 'B')
        || setweight(to_tsvector('english', coalesce(p_comments, '')), 'C')
$$;
CREATE OR REPLACE FUNCTION incidents_search_document(p_id bigint, p_title text, p_description text)
RETURNS tsvector LANGUAGE sql STABLE AS $$
    SELECT incidents_search_text_document(p_title, p_description,
        (SELECT string_agg(c.body, ' ' ORDER BY c.id) FROM incidents_comment c
          WHERE c.incident_id = p_id AND NOT c.internal))
$$;
"""

# Undone: the definition the search column's migration made, and the text function gone.
PREVIOUS_DOCUMENT_FUNCTION = (
    _search_migration.SEARCH_DOCUMENT_FUNCTION.replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION", 1)
    + "DROP FUNCTION incidents_search_text_document(text, text, text);"
)


class Migration(migrations.Migration):

    dependencies = [
        ("incidents", "0003_partial_indexes"),
    ]

    operations = [
        migrations.RunPython(by_database(postgresql=[TEXT_DOCUMENT_FUNCTION]),
                             by_database(postgresql=[PREVIOUS_DOCUMENT_FUNCTION])),
    ]
