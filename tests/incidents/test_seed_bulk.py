"""`manage.py seed --incidents N --comments M`: bulk generated data for load tests."""
from __future__ import annotations

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.db.models import Count
from django.utils import timezone

from audit.models import Action, AuditLog
from incidents.models import Comment, Incident, Severity
from incidents.workflow import Status

pytestmark = pytest.mark.django_db(transaction=True)


def seed(*args: str) -> str:
    out = StringIO()
    call_command("seed", *args, stdout=out)
    return out.getvalue()


def schema_objects() -> set[tuple[str, str]]:
    """The indexes and constraints of the incident and comment tables, by name and definition."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename IN (%s, %s) "
            "UNION SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
            "WHERE conrelid IN (%s::regclass, %s::regclass)",
            [Incident._meta.db_table, Comment._meta.db_table] * 2,
        )
        return set(cursor.fetchall())


def test_bulk_seed_writes_consistent_incidents_and_comments_with_one_audit_row_per_batch():
    output = seed("--incidents", "450", "--comments", "200", "--batch-size", "100")

    assert "Generated 450 incidents and 200 comments" in output
    assert "450/450 incidents" in output
    assert Incident.objects.count() == 450
    assert Comment.objects.count() == 200
    imports = AuditLog.objects.filter(action=Action.INCIDENTS_IMPORTED).order_by("sequence")
    assert [entry.changes["incidents"][1] for entry in imports] == [100, 100, 100, 100, 50]
    assert sum(entry.changes["comments"][1] for entry in imports) == 200
    now = timezone.now()
    for incident in Incident.objects.all():
        assert incident.created_at <= incident.updated_at <= now
        assert (incident.acknowledged_at is None) == (incident.status == Status.OPEN)
        assert (incident.resolved_at is None) == (incident.status in (Status.OPEN, Status.IN_PROGRESS))
        assert (incident.closed_at is None) == (incident.status != Status.CLOSED)
        assert incident.status == Status.OPEN or incident.assignee_id is not None


def test_bulk_seeded_incidents_are_numbered_in_the_order_they_were_reported():
    """As in a live tracker: the table is laid out in time, which the list's and search's walks rely on."""
    seed("--incidents", "450", "--comments", "0", "--batch-size", "100")
    created = list(Incident.objects.order_by("pk").values_list("created_at", flat=True))
    assert created == sorted(created)
    assert created[-1] - created[0] > timedelta(days=365)


def test_bulk_seed_covers_every_status_and_severity_with_skewed_reporters():
    seed("--incidents", "600", "--comments", "0")
    assert set(Incident.objects.values_list("severity", flat=True)) == set(Severity.values)
    assert set(Incident.objects.values_list("status", flat=True)) == set(Status.values)
    per_reporter = list(Incident.objects.values("reporter").annotate(n=Count("id")).order_by("-n").values_list("n", flat=True))
    assert per_reporter[0] > 3 * per_reporter[-1]


def test_a_second_bulk_seed_adds_to_the_first_and_reuses_its_people():
    seed("--incidents", "50", "--comments", "10")
    seed("--incidents", "50", "--comments", "10")
    assert Incident.objects.count() == 100
    assert Incident.objects.filter(reporter__username__startswith="seed-reporter-").count() == 100


@pytest.mark.postgresql
def test_first_bulk_load_rebuilds_every_index_and_constraint_it_set_aside():
    before = schema_objects()
    seed("--incidents", "120", "--comments", "30", "--batch-size", "50")
    assert schema_objects() == before
    assert len(before) > 20


@pytest.mark.postgresql
def test_bulk_seeded_incidents_are_searchable_including_public_comments():
    seed("--incidents", "200", "--comments", "400", "--batch-size", "50")
    commented = Comment.objects.filter(internal=False).earliest("id")
    word = commented.body.removeprefix("<p>").split()[0].strip(".,!?;:")
    assert Incident.objects.search(word).filter(pk=commented.incident_id).exists()
    assert not Incident.objects.filter(search_vector__isnull=True).exists()


@pytest.mark.postgresql
def test_a_first_load_stores_the_search_vectors_the_triggers_would():
    """The first load computes the vectors aside, with the trigger off: they must be the trigger's own."""
    seed("--incidents", "300", "--comments", "600", "--batch-size", "100")
    assert Comment.objects.filter(internal=True).exists() and Comment.objects.filter(internal=False).exists()
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM incidents_incident "
                       "WHERE search_vector IS DISTINCT FROM incidents_search_document(id, title, description)")
        assert cursor.fetchone() == (0,)
        cursor.execute("SELECT tgenabled FROM pg_trigger WHERE tgname = 'incidents_incident_search'")
        assert cursor.fetchone() == ("O",), "the trigger is on again"
    incident = Incident.objects.earliest("id")
    incident.title = "Quasar alignment fault"
    incident.save()
    assert list(Incident.objects.search("quasar")) == [incident]


@pytest.mark.parametrize("args, message", [
    (["--incidents", "-1"], "cannot be negative"),
    (["--incidents", "10", "--batch-size", "0"], "--batch-size must be at least 1"),
    (["--comments", "5"], "--comments needs --incidents"),
])
def test_bulk_seed_refuses_bad_numbers_and_writes_nothing(args, message):
    with pytest.raises(CommandError, match=message):
        seed(*args)
    assert not Incident.objects.exists()
    assert not AuditLog.objects.filter(action=Action.INCIDENTS_IMPORTED).exists()
