"""Each incident action leaves exactly one audit row with the right actor, target and changes; a refused one none."""
from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from audit.models import Action, AuditLog
from incidents.models import Severity
from incidents.services import StaleIncidentError, comment_add, incident_create, incident_transition, incident_update
from incidents.workflow import Status
from tests.factories import make_category, make_incident

pytestmark = pytest.mark.django_db


def only_row() -> AuditLog:
    [row] = AuditLog.objects.all()
    return row


def test_reporting_an_incident(reporter):
    category = make_category(name="Network")
    incident, _ = incident_create(reporter=reporter, title="VPN down", description="<p>x</p>", severity=Severity.SEV2,
                                  category=category)
    row = only_row()
    assert (row.action, row.actor, row.target_type, row.target_id) == (
        Action.INCIDENT_REPORTED, reporter, "incidents.incident", str(incident.pk))
    assert row.changes == {"title": [None, "VPN down"], "severity": [None, "SEV2 – high"], "category": [None, "Network"]}


def test_editing_records_only_the_changed_fields(reporter):
    incident = make_incident(reporter=reporter, title="VPN down")
    incident_update(incident, actor=reporter, expected_version=incident.version, title="VPN flaky",
                    description=incident.description)
    row = only_row()
    assert (row.action, row.actor, row.changes) == (Action.INCIDENT_EDITED, reporter, {"title": ["VPN down", "VPN flaky"]})


def test_assigning_is_its_own_row_beside_the_edit(responder, reporter):
    incident = make_incident(reporter=reporter)
    incident_update(incident, actor=responder, expected_version=incident.version, assignee=responder,
                    severity=Severity.SEV1)
    assigned = AuditLog.objects.get(action=Action.INCIDENT_ASSIGNED)
    edited = AuditLog.objects.get(action=Action.INCIDENT_EDITED)
    assert (assigned.actor, assigned.changes) == (responder, {"assignee": [None, f"Responder #{responder.pk}"]})
    assert edited.changes == {"severity": ["SEV3 – medium", "SEV1 – critical"]}
    assert AuditLog.objects.count() == 2


def test_edit_that_changes_nothing_records_nothing(reporter):
    incident = make_incident(reporter=reporter, title="VPN down")
    incident_update(incident, actor=reporter, expected_version=incident.version, title="VPN down")
    assert not AuditLog.objects.exists()


@pytest.mark.parametrize("attempt", ["stale", "forbidden"])
def test_refused_edit_records_nothing(reporter, other_reporter, attempt):
    incident = make_incident(reporter=reporter)
    with pytest.raises((StaleIncidentError, PermissionDenied)):
        if attempt == "stale":
            incident_update(incident, actor=reporter, expected_version=incident.version - 1, title="New")
        else:
            incident_update(incident, actor=other_reporter, expected_version=incident.version, title="New")
    assert not AuditLog.objects.exists()


def test_transition(responder, reporter):
    incident = make_incident(reporter=reporter)
    incident_transition(incident, actor=responder, name="start")
    row = only_row()
    assert (row.action, row.actor, row.target_id) == (Action.INCIDENT_TRANSITIONED, responder, str(incident.pk))
    assert row.changes == {"status": [Status.OPEN, Status.IN_PROGRESS], "transition": [None, "start"]}


def test_transition_not_allowed_from_the_status_records_nothing(responder, reporter):
    incident = make_incident(reporter=reporter)
    with pytest.raises(ValidationError):
        incident_transition(incident, actor=responder, name="close")
    assert not AuditLog.objects.exists()


@pytest.mark.parametrize("internal, action", [(False, Action.INCIDENT_COMMENTED), (True, Action.INCIDENT_NOTE_ADDED)])
def test_comment_and_internal_note(responder, reporter, internal, action):
    incident = make_incident(reporter=reporter)
    comment = comment_add(incident, author=responder, body="<p>On it</p>", internal=internal)
    row = only_row()
    assert (row.action, row.actor, row.target_id, row.changes) == (
        action, responder, str(incident.pk), {"comment": [None, comment.pk]})


def test_empty_comment_is_refused_and_records_nothing(reporter):
    incident = make_incident(reporter=reporter)
    with pytest.raises(ValidationError):
        comment_add(incident, author=reporter, body="<p> </p>")
    assert not AuditLog.objects.exists()


def test_a_report_filed_for_someone_else_names_who_filed_it(reporter, responder):
    incident, _ = incident_create(reporter=reporter, actor=responder, title="Phoned in", description="<p>Printer</p>")
    row = AuditLog.objects.get(action=Action.INCIDENT_REPORTED)
    assert (row.actor, row.target_id) == (responder, str(incident.pk))
    assert row.changes["on_behalf_of"] == [None, str(reporter)]


def test_a_report_filed_by_its_reporter_names_nobody_else(reporter):
    incident_create(reporter=reporter, title="Mine", description="<p>Printer</p>")
    row = AuditLog.objects.get(action=Action.INCIDENT_REPORTED)
    assert row.actor == reporter and "on_behalf_of" not in row.changes
