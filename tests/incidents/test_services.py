"""
Each service: what it changes, the audit row it writes in the same transaction, and on
refusal the exact message and an untouched database.
"""
from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from audit.models import Action, AuditLog
from incidents.models import Category, Comment, Incident, Severity
from incidents.services import (
    StaleIncidentError,
    category_delete,
    category_save,
    comment_add,
    incident_create,
    incident_transition,
    incident_update,
)
from incidents.workflow import Status
from tests.factories import make_category, make_incident

pytestmark = pytest.mark.django_db


def assert_unchanged(incident: Incident) -> None:
    """The row still holds exactly what `incident` held, and no audit row mentions it."""
    stored = Incident.objects.get(pk=incident.pk)
    for field in ("title", "description", "severity", "status", "category_id", "assignee_id", "version",
                  "acknowledged_at", "resolved_at", "closed_at"):
        assert getattr(stored, field) == getattr(incident, field), field
    assert not AuditLog.objects.filter(target_type="incidents.incident", target_id=str(incident.pk)).exists()


# --- incident_create ------------------------------------------------------------------

def test_incident_create_records_the_report_and_its_audit_row(reporter):
    category = make_category(name="Network")
    incident, created = incident_create(
        reporter=reporter, title="  VPN   down ", description="<p>Since 9:00</p>", severity=Severity.SEV2,
        category=category,
    )
    assert created
    assert (incident.title, incident.description, incident.severity) == ("VPN down", "<p>Since 9:00</p>", 2)
    assert (incident.status, incident.version, incident.reporter, incident.assignee) == (Status.OPEN, 1, reporter, None)
    entry = AuditLog.objects.get()
    assert (entry.action, entry.actor, entry.target_id) == (Action.INCIDENT_REPORTED, reporter, str(incident.pk))
    assert entry.changes == {"title": [None, "VPN down"], "severity": [None, "SEV2 – high"], "category": [None, "Network"]}


def test_incident_create_strips_markup_from_the_title_and_script_from_the_description(reporter):
    incident, _ = incident_create(
        reporter=reporter, title="<b>Disk</b> full<script>alert(1)</script>",
        description='<p onclick="x()">Full</p><script>alert(1)</script><img src=x onerror=alert(1)>',
    )
    assert incident.title == "Disk fullalert(1)"
    assert incident.description == "<p>Full</p>alert(1)"


def test_incident_create_refuses_a_title_that_is_only_markup(reporter):
    with pytest.raises(ValidationError) as error:
        incident_create(reporter=reporter, title="<b></b>", description="Something broke")
    assert error.value.message_dict == {"title": ["This field cannot be blank."]}
    assert not Incident.objects.exists()
    assert not AuditLog.objects.exists()


def test_incident_create_with_the_same_token_twice_returns_the_first_incident(reporter):
    token = uuid.uuid4()
    first, created_first = incident_create(reporter=reporter, title="VPN down", description="d", submission_token=token)
    again, created_again = incident_create(reporter=reporter, title="VPN down", description="d", submission_token=token)
    assert (created_first, created_again) == (True, False)
    assert again == first
    assert Incident.objects.count() == 1
    assert AuditLog.objects.count() == 1


def test_incident_create_from_a_reloaded_form_with_the_same_text_returns_the_first_incident(reporter):
    """Back, reload and submit again mints a new token; the same words from the same person are still one report."""
    first, _ = incident_create(reporter=reporter, title="VPN down", description="d", submission_token=uuid.uuid4())
    again, created = incident_create(reporter=reporter, title="VPN  down", description="d", submission_token=uuid.uuid4())
    assert not created
    assert again == first
    assert Incident.objects.count() == 1


def test_incident_create_keeps_a_different_report_from_the_same_person(reporter):
    incident_create(reporter=reporter, title="VPN down", description="d", submission_token=uuid.uuid4())
    _, created = incident_create(reporter=reporter, title="Printer jams", description="d", submission_token=uuid.uuid4())
    assert created
    assert Incident.objects.count() == 2


def test_the_same_token_from_two_reporters_makes_two_incidents(reporter, other_reporter):
    token = uuid.uuid4()
    incident_create(reporter=reporter, title="VPN down", description="d", submission_token=token)
    _, created = incident_create(reporter=other_reporter, title="VPN down", description="d", submission_token=token)
    assert created
    assert Incident.objects.count() == 2


def test_identical_reports_long_apart_are_two_incidents(reporter, time_machine):
    time_machine.move_to("2026-01-05 09:00Z")
    incident_create(reporter=reporter, title="VPN down", description="d", submission_token=uuid.uuid4())
    time_machine.move_to("2026-01-06 09:00Z")
    _, created = incident_create(reporter=reporter, title="VPN down", description="d", submission_token=uuid.uuid4())
    assert created


# --- incident_update ------------------------------------------------------------------

def test_incident_update_writes_only_real_changes_bumps_the_version_and_audits_before_and_after(responder, reporter):
    incident = make_incident(reporter=reporter, title="VPN down", severity=Severity.SEV3)
    updated = incident_update(incident, actor=responder, expected_version=1, title="VPN down", severity=Severity.SEV1)
    assert (updated.severity, updated.version) == (Severity.SEV1, 2)
    entry = AuditLog.objects.get()
    assert (entry.action, entry.actor, entry.target_id) == (Action.INCIDENT_EDITED, responder, str(incident.pk))
    assert entry.changes == {"severity": ["SEV3 – medium", "SEV1 – critical"]}


def test_incident_update_with_nothing_changed_writes_nothing(responder, reporter):
    incident = make_incident(reporter=reporter, title="VPN down")
    result = incident_update(incident, actor=responder, expected_version=1, title="VPN down")
    assert result.version == 1
    assert not AuditLog.objects.exists()


def test_responder_assigns_and_triages_with_separate_audit_rows(responder, reporter):
    category = make_category(name="Network")
    incident = make_incident(reporter=reporter)
    updated = incident_update(incident, actor=responder, expected_version=1, assignee=responder, category=category)
    assert (updated.assignee, updated.category) == (responder, category)
    assigned = AuditLog.objects.get(action=Action.INCIDENT_ASSIGNED)
    assert assigned.changes == {"assignee": [None, f"Responder #{responder.pk}"]}
    assert AuditLog.objects.get(action=Action.INCIDENT_EDITED).changes == {"category": [None, "Network"]}


def test_incident_update_refuses_a_stale_version_and_returns_the_newer_values(responder, reporter):
    incident = make_incident(reporter=reporter, title="VPN down")
    incident_update(incident, actor=responder, expected_version=1, title="VPN down in Leeds")
    snapshot = Incident.objects.get(pk=incident.pk)
    with pytest.raises(StaleIncidentError) as error:
        incident_update(incident, actor=reporter, expected_version=1, title="VPN down everywhere")
    assert str(error.value) == "This incident was changed by someone else after you opened it."
    assert (error.value.current.title, error.value.current.version) == ("VPN down in Leeds", 2)
    stored = Incident.objects.get(pk=incident.pk)
    assert (stored.title, stored.version) == (snapshot.title, snapshot.version)
    assert AuditLog.objects.count() == 1


def test_reporter_edits_their_own_open_incident(reporter):
    incident = make_incident(reporter=reporter, title="VPN down")
    updated = incident_update(incident, actor=reporter, expected_version=1, title="VPN down since 9", severity=2)
    assert (updated.title, updated.severity) == ("VPN down since 9", 2)
    assert AuditLog.objects.get().actor == reporter


@pytest.mark.parametrize("status", [Status.IN_PROGRESS, Status.RESOLVED, Status.CLOSED])
def test_reporter_cannot_edit_once_work_has_started(reporter, status):
    incident = make_incident(reporter=reporter, status=status)
    with pytest.raises(PermissionDenied, match="^You may not edit this incident.$"):
        incident_update(incident, actor=reporter, expected_version=1, title="Changed")
    assert_unchanged(incident)


def test_reporter_cannot_edit_someone_elses_incident(reporter, other_reporter):
    incident = make_incident(reporter=other_reporter)
    with pytest.raises(PermissionDenied, match="^You may not edit this incident.$"):
        incident_update(incident, actor=reporter, expected_version=1, title="Mine now")
    assert_unchanged(incident)


def test_reporter_cannot_assign_even_their_own_incident(reporter, responder):
    incident = make_incident(reporter=reporter)
    with pytest.raises(PermissionDenied, match="^Only responders may assign incidents.$"):
        incident_update(incident, actor=reporter, expected_version=1, assignee=responder)
    assert_unchanged(incident)


def test_fields_outside_the_edit_form_cannot_be_written(responder, reporter):
    incident = make_incident(reporter=reporter)
    with pytest.raises(ValueError, match="^Not editable: reporter, status$"):
        incident_update(incident, actor=responder, expected_version=1, status=Status.CLOSED, reporter=responder)
    assert_unchanged(incident)


def test_incident_update_refuses_a_title_that_sanitises_to_nothing(responder, reporter):
    incident = make_incident(reporter=reporter)
    with pytest.raises(ValidationError) as error:
        incident_update(incident, actor=responder, expected_version=1, title="<script></script>")
    assert error.value.message_dict == {"title": ["This field cannot be blank."]}
    assert_unchanged(incident)


# --- incident_transition ---------------------------------------------------------------

def test_a_responder_moves_an_incident_through_the_whole_workflow_with_timestamps(responder, reporter, time_machine):
    incident = make_incident(reporter=reporter)
    time_machine.move_to("2026-03-02 09:00Z", tick=False)
    incident = incident_transition(incident, actor=responder, name="start")
    acknowledged = incident.acknowledged_at
    assert (incident.status, incident.version, incident.resolved_at) == (Status.IN_PROGRESS, 2, None)
    assert acknowledged == datetime(2026, 3, 2, 9, 0, tzinfo=UTC)

    time_machine.move_to("2026-03-02 11:30Z", tick=False)
    incident = incident_transition(incident, actor=responder, name="resolve")
    assert incident.status == Status.RESOLVED
    assert incident.resolved_at == datetime(2026, 3, 2, 11, 30, tzinfo=UTC)
    assert incident.closed_at is None

    time_machine.move_to("2026-03-03 09:00Z", tick=False)
    incident = incident_transition(incident, actor=responder, name="close")
    assert incident.status == Status.CLOSED
    assert incident.closed_at == datetime(2026, 3, 3, 9, 0, tzinfo=UTC)

    incident = incident_transition(incident, actor=responder, name="reopen")
    assert (incident.status, incident.resolved_at, incident.closed_at) == (Status.OPEN, None, None)
    assert incident.acknowledged_at == acknowledged

    time_machine.move_to("2026-03-04 09:00Z", tick=False)
    incident = incident_transition(incident, actor=responder, name="start")
    assert incident.acknowledged_at == acknowledged, "time to acknowledge measures the first response"
    assert incident.version == 6


def test_incident_transition_audits_from_and_to(responder, reporter):
    incident = make_incident(reporter=reporter)
    incident_transition(incident, actor=responder, name="start")
    entry = AuditLog.objects.get()
    assert (entry.action, entry.actor, entry.target_id) == (Action.INCIDENT_TRANSITIONED, responder, str(incident.pk))
    assert entry.changes == {"status": ["open", "in_progress"], "transition": [None, "start"]}


def test_reopen_from_resolved_clears_resolved_at(responder, reporter):
    incident = make_incident(reporter=reporter, status=Status.RESOLVED)
    incident = incident_transition(incident, actor=responder, name="reopen")
    assert (incident.status, incident.resolved_at) == (Status.OPEN, None)


@pytest.mark.parametrize(
    ("status", "name", "message"),
    [
        (Status.OPEN, "close", "An incident that is Open cannot be moved with “Close”."),
        (Status.OPEN, "resolve", "An incident that is Open cannot be moved with “Resolve”."),
        (Status.OPEN, "reopen", "An incident that is Open cannot be moved with “Reopen”."),
        (Status.IN_PROGRESS, "start", "An incident that is In progress cannot be moved with “Start work”."),
        (Status.CLOSED, "resolve", "An incident that is Closed cannot be moved with “Resolve”."),
    ],
)
def test_an_illegal_transition_is_refused_and_changes_nothing(responder, reporter, status, name, message):
    incident = make_incident(reporter=reporter, status=status)
    with pytest.raises(ValidationError) as error:
        incident_transition(incident, actor=responder, name=name)
    assert error.value.messages == [message]
    assert_unchanged(incident)


def test_an_unknown_transition_is_refused(responder, reporter):
    incident = make_incident(reporter=reporter)
    with pytest.raises(ValidationError) as error:
        incident_transition(incident, actor=responder, name="escalate")
    assert error.value.messages == ["“escalate” is not a workflow action."]
    assert_unchanged(incident)


def test_a_transition_from_a_stale_page_is_refused(responder, reporter):
    incident = make_incident(reporter=reporter)
    incident_update(incident, actor=responder, expected_version=1, severity=Severity.SEV1)
    snapshot = Incident.objects.get(pk=incident.pk)
    with pytest.raises(StaleIncidentError):
        incident_transition(incident, actor=responder, name="start", expected_version=1)
    stored = Incident.objects.get(pk=incident.pk)
    assert (stored.status, stored.version) == (Status.OPEN, snapshot.version)
    assert not AuditLog.objects.filter(action=Action.INCIDENT_TRANSITIONED).exists()


def test_a_reporter_cannot_move_even_their_own_incident(reporter):
    incident = make_incident(reporter=reporter)
    with pytest.raises(PermissionDenied, match="^Only responders may change an incident's status.$"):
        incident_transition(incident, actor=reporter, name="start")
    assert_unchanged(incident)


# --- comment_add -----------------------------------------------------------------------

def test_reporter_comments_on_their_incident_and_it_is_audited(reporter):
    incident = make_incident(reporter=reporter)
    comment = comment_add(incident, author=reporter, body="<p>Still broken</p><script>x()</script>")
    assert (comment.body, comment.internal, comment.author) == ("<p>Still broken</p>x()", False, reporter)
    entry = AuditLog.objects.get()
    assert (entry.action, entry.actor, entry.target_id) == (Action.INCIDENT_COMMENTED, reporter, str(incident.pk))
    assert entry.changes == {"comment": [None, comment.pk]}


def test_responder_writes_an_internal_note(responder, reporter):
    incident = make_incident(reporter=reporter)
    note = comment_add(incident, author=responder, body="Probably the firewall", internal=True)
    assert note.internal
    assert AuditLog.objects.get().action == Action.INCIDENT_NOTE_ADDED


@pytest.mark.parametrize("body", ["", "   ", "<p></p>", "<script></script>", "<p> <br> </p>"])
def test_an_empty_comment_is_refused(reporter, body):
    incident = make_incident(reporter=reporter)
    with pytest.raises(ValidationError) as error:
        comment_add(incident, author=reporter, body=body)
    assert error.value.message_dict == {"body": ["Write something before posting."]}
    assert not Comment.objects.exists()
    assert not AuditLog.objects.exists()


def test_a_reporter_cannot_write_an_internal_note(reporter):
    incident = make_incident(reporter=reporter)
    with pytest.raises(PermissionDenied, match="^Only responders may write internal notes.$"):
        comment_add(incident, author=reporter, body="psst", internal=True)
    assert not Comment.objects.exists()
    assert not AuditLog.objects.exists()


def test_a_reporter_cannot_comment_on_someone_elses_incident(reporter, other_reporter):
    incident = make_incident(reporter=other_reporter)
    with pytest.raises(PermissionDenied, match="^You may not comment on this incident.$"):
        comment_add(incident, author=reporter, body="hello")
    assert not Comment.objects.exists()


# --- categories ------------------------------------------------------------------------

def test_category_save_creates_and_audits(admin_user):
    category = category_save(Category(name=" <i>Network</i> ", description="VPN"), actor=admin_user)
    assert category.name == "Network"
    entry = AuditLog.objects.get()
    assert (entry.action, entry.actor, entry.target_id) == (Action.CATEGORY_CREATED, admin_user, str(category.pk))
    assert entry.changes == {"name": [None, "Network"], "description": [None, "VPN"], "is_active": [None, True]}


def test_category_save_audits_only_what_changed(admin_user):
    category = make_category(name="Network", description="VPN")
    category.is_active = False
    category_save(category, actor=admin_user)
    entry = AuditLog.objects.get()
    assert entry.action == Action.CATEGORY_CHANGED
    assert entry.changes == {"is_active": [True, False]}


def test_category_save_refuses_a_name_that_differs_only_in_case(admin_user):
    make_category(name="Network")
    with pytest.raises(ValidationError) as error:
        category_save(Category(name="NETWORK"), actor=admin_user)
    assert error.value.messages == ["A category with this name already exists."]
    assert Category.objects.count() == 1
    assert not AuditLog.objects.exists()


def test_category_save_by_the_system_has_no_actor():
    category_save(Category(name="Network"), actor=None)
    entry = AuditLog.objects.get()
    assert (entry.actor, entry.actor_username) == (None, "")


def test_category_delete_removes_it_and_keeps_its_name_in_the_audit_log(admin_user):
    category = make_category(name="Network")
    pk = category.pk
    category_delete(category, actor=admin_user)
    assert not Category.objects.exists()
    entry = AuditLog.objects.get()
    assert (entry.action, entry.actor, entry.target_id) == (Action.CATEGORY_DELETED, admin_user, str(pk))
    assert entry.changes == {"name": ["Network", None]}
