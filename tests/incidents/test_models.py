"""The invariants a single row must keep are enforced by the database itself, whatever code writes it."""
from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from incidents.models import Category, Comment, Incident
from incidents.workflow import Status
from tests.factories import make_category, make_comment, make_incident, make_user

pytestmark = pytest.mark.django_db


def _update_refused(incident: Incident, **values: object) -> None:
    """Write `values` straight to the row, below every Python check, and expect the database to refuse."""
    with pytest.raises(IntegrityError), transaction.atomic():
        Incident.objects.filter(pk=incident.pk).update(**values)


def test_database_refuses_an_unknown_status(reporter):
    incident = make_incident(reporter=reporter)
    _update_refused(incident, status="escalated")
    incident.refresh_from_db()
    assert incident.status == Status.OPEN


@pytest.mark.parametrize("severity", [0, 5, 99])
def test_database_refuses_a_severity_outside_sev1_to_sev4(reporter, severity):
    incident = make_incident(reporter=reporter)
    _update_refused(incident, severity=severity)


def test_database_refuses_closed_without_closed_at(reporter):
    incident = make_incident(reporter=reporter, status=Status.RESOLVED)
    _update_refused(incident, status=Status.CLOSED, closed_at=None)


@pytest.mark.parametrize("status", [Status.OPEN, Status.IN_PROGRESS, Status.RESOLVED])
def test_database_refuses_closed_at_on_an_incident_that_is_not_closed(reporter, status):
    incident = make_incident(reporter=reporter, status=status)
    _update_refused(incident, closed_at=timezone.now())


@pytest.mark.parametrize("status", [Status.RESOLVED, Status.CLOSED])
def test_database_refuses_resolved_or_closed_without_resolved_at(reporter, status):
    incident = make_incident(reporter=reporter, status=status)
    _update_refused(incident, resolved_at=None)


def test_a_closed_incident_with_both_timestamps_is_accepted(reporter):
    incident = make_incident(reporter=reporter, status=Status.CLOSED)
    incident.refresh_from_db()
    assert incident.status == Status.CLOSED
    assert incident.resolved_at is not None and incident.closed_at is not None


@pytest.mark.parametrize("name", ["network", "NETWORK", "NetWork"])
def test_database_refuses_a_category_name_differing_only_in_case(name):
    make_category(name="Network")
    with pytest.raises(IntegrityError), transaction.atomic():
        Category.objects.create(name=name)
    assert Category.objects.count() == 1


def test_category_validation_explains_a_duplicate_name_before_the_database_does():
    make_category(name="Network")
    with pytest.raises(ValidationError) as error:
        Category(name="nEtwork").full_clean()
    assert "A category with this name already exists." in error.value.messages


def test_a_reporter_cannot_have_two_incidents_with_one_submission_token(reporter):
    token = uuid.uuid4()
    make_incident(reporter=reporter, submission_token=token)
    with pytest.raises(IntegrityError), transaction.atomic():
        make_incident(reporter=reporter, submission_token=token)


def test_incidents_list_newest_first(reporter):
    older = make_incident(reporter=reporter, created_at=timezone.now() - timedelta(days=1))
    newer = make_incident(reporter=reporter)
    assert list(Incident.objects.all()) == [newer, older]


def test_reporters_see_only_their_own_incidents_and_responders_see_all(reporter, other_reporter, responder):
    mine = make_incident(reporter=reporter)
    theirs = make_incident(reporter=other_reporter)
    assert list(Incident.objects.visible_to(reporter)) == [mine]
    assert set(Incident.objects.visible_to(responder)) == {mine, theirs}


def test_reporters_never_get_internal_notes_from_the_comment_queryset(reporter, responder):
    incident = make_incident(reporter=reporter)
    public = make_comment(incident=incident, author=responder)
    make_comment(incident=incident, author=responder, internal=True)
    assert list(Comment.objects.visible_to(reporter)) == [public]
    assert Comment.objects.visible_to(responder).count() == 2


def test_text_representations_name_what_a_person_recognises(reporter):
    category = make_category(name="Hardware")
    incident = make_incident(reporter=reporter, title="Printer jams", category=category)
    comment = make_comment(incident=incident, author=reporter)
    named = make_user(username="sam", first_name="Sam", last_name="Lee")
    assert str(category) == "Hardware"
    assert str(incident) == f"#{incident.pk} Printer jams"
    assert str(comment) == f"Comment #{comment.pk} on incident #{incident.pk}"
    assert str(named) == "Sam Lee"
    assert str(reporter) == f"User #{reporter.pk}", "never the login name"
    responder = make_user(username="ops", is_staff=True)
    assert str(responder) == f"Responder #{responder.pk}"
    assert incident.get_absolute_url() == f"/incidents/{incident.pk}/"
    assert incident.is_open
