"""
List indexes for every filter and sort pair, and full-text search on PostgreSQL: a
stored tsvector per incident (title A, description B, public comments C) kept current
by triggers, and a GIN index on it. On SQLite the search operations do nothing and the
column stays empty (search falls back to substring matching there).
"""
import django.contrib.postgres.search
import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

from common.migrations import by_database

SEARCH_DOCUMENT_FUNCTION = """
CREATE FUNCTION incidents_search_document(p_id bigint, p_title text, p_description text)
RETURNS tsvector LANGUAGE sql STABLE AS $$
    SELECT setweight(to_tsvector('english', coalesce(p_title, '')), 'A')
        || setweight(to_tsvector('english', coalesce(p_description, '')), 'B')
        || setweight(to_tsvector('english', coalesce(
               (SELECT string_agg(c.body, ' ' ORDER BY c.id) FROM incidents_comment c
                 WHERE c.incident_id = p_id AND NOT c.internal), '')), 'C')
$$;
"""

# BEFORE, so the new vector is written with the row itself; only title and description
# changes recompute it, so a status change or an assignment costs nothing extra.
INCIDENT_TRIGGER = """
CREATE FUNCTION incidents_incident_search_refresh() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.search_vector := incidents_search_document(NEW.id, NEW.title, NEW.description);
    RETURN NEW;
END $$;
CREATE TRIGGER incidents_incident_search BEFORE INSERT OR UPDATE OF title, description
    ON incidents_incident FOR EACH ROW EXECUTE FUNCTION incidents_incident_search_refresh();
"""

# Statement-level with a transition table, so a bulk insert of comments refreshes each
# incident once; one trigger per event because a trigger with transition tables takes one.
COMMENT_TRIGGERS = """
CREATE FUNCTION incidents_comment_search_refresh() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE incidents_incident i
       SET search_vector = incidents_search_document(i.id, i.title, i.description)
     WHERE i.id IN (SELECT DISTINCT incident_id FROM changed_comments);
    RETURN NULL;
END $$;
CREATE TRIGGER incidents_comment_search_insert AFTER INSERT ON incidents_comment
    REFERENCING NEW TABLE AS changed_comments
    FOR EACH STATEMENT EXECUTE FUNCTION incidents_comment_search_refresh();
CREATE TRIGGER incidents_comment_search_update AFTER UPDATE ON incidents_comment
    REFERENCING NEW TABLE AS changed_comments
    FOR EACH STATEMENT EXECUTE FUNCTION incidents_comment_search_refresh();
CREATE TRIGGER incidents_comment_search_delete AFTER DELETE ON incidents_comment
    REFERENCING OLD TABLE AS changed_comments
    FOR EACH STATEMENT EXECUTE FUNCTION incidents_comment_search_refresh();
"""

INSTALL = [
    SEARCH_DOCUMENT_FUNCTION,
    INCIDENT_TRIGGER,
    COMMENT_TRIGGERS,
    "UPDATE incidents_incident SET search_vector = incidents_search_document(id, title, description)",
    "CREATE INDEX incident_search_idx ON incidents_incident USING gin (search_vector)",
]

UNINSTALL = [
    "DROP INDEX incident_search_idx",
    "DROP TRIGGER incidents_comment_search_insert ON incidents_comment",
    "DROP TRIGGER incidents_comment_search_update ON incidents_comment",
    "DROP TRIGGER incidents_comment_search_delete ON incidents_comment",
    "DROP FUNCTION incidents_comment_search_refresh()",
    "DROP TRIGGER incidents_incident_search ON incidents_incident",
    "DROP FUNCTION incidents_incident_search_refresh()",
    "DROP FUNCTION incidents_search_document(bigint, text, text)",
]


class Migration(migrations.Migration):

    dependencies = [
        ('incidents', '0001_initial'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddField(
            model_name='incident',
            name='search_vector',
            field=django.contrib.postgres.search.SearchVectorField(editable=False, null=True),
        ),
        migrations.AddIndex(
            model_name='incident',
            index=models.Index(fields=['status', 'severity', '-created_at', '-id'], name='incident_status_sev_idx'),
        ),
        migrations.AddIndex(
            model_name='incident',
            index=models.Index(fields=['status', '-updated_at', '-id'], name='incident_status_upd_idx'),
        ),
        migrations.AddIndex(
            model_name='incident',
            index=models.Index(fields=['severity', '-updated_at', '-id'], name='incident_severity_upd_idx'),
        ),
        migrations.AddIndex(
            model_name='incident',
            index=models.Index(fields=['category', 'severity', '-created_at', '-id'], name='incident_category_sev_idx'),
        ),
        migrations.AddIndex(
            model_name='incident',
            index=models.Index(fields=['category', '-updated_at', '-id'], name='incident_category_upd_idx'),
        ),
        migrations.AddIndex(
            model_name='incident',
            index=models.Index(fields=['assignee', 'severity', '-created_at', '-id'], name='incident_assignee_sev_idx'),
        ),
        migrations.AddIndex(
            model_name='incident',
            index=models.Index(fields=['assignee', '-updated_at', '-id'], name='incident_assignee_upd_idx'),
        ),
        migrations.AddIndex(
            model_name='incident',
            index=models.Index(fields=['reporter', 'severity', '-created_at', '-id'], name='incident_reporter_sev_idx'),
        ),
        migrations.AddIndex(
            model_name='incident',
            index=models.Index(fields=['reporter', '-updated_at', '-id'], name='incident_reporter_upd_idx'),
        ),
        migrations.AlterField(
            model_name='comment',
            name='incident',
            field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='comments', to='incidents.incident'),
        ),
        migrations.AlterField(
            model_name='incident',
            name='assignee',
            field=models.ForeignKey(blank=True, db_index=False, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='assigned_incidents', to=settings.AUTH_USER_MODEL),
        ),
        migrations.AlterField(
            model_name='incident',
            name='category',
            field=models.ForeignKey(blank=True, db_index=False, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='incidents', to='incidents.category'),
        ),
        migrations.AlterField(
            model_name='incident',
            name='reporter',
            field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.PROTECT, related_name='reported_incidents', to=settings.AUTH_USER_MODEL),
        ),
        migrations.RunPython(by_database(postgresql=INSTALL), by_database(postgresql=UNINSTALL)),
    ]
