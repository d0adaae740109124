"""
A reporter cannot use the product to send mail or change what responders decided:
severity is triage's once a responder has taken the incident up, major-incident mail
goes out at most once per incident per hour, and edit rights are checked on the row the
edit is written to.
"""
from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.core import mail
from django.core.exceptions import PermissionDenied
from django.urls import reverse
from django.utils import timezone

from incidents.models import Incident, Severity
from incidents.services import incident_transition, incident_update
from tests.factories import make_incident, make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def on_call(db):
    return make_user(username="oncall", is_staff=True)


def edit(client, incident: Incident, **values):
    data = {"title": incident.title, "description": incident.description, "severity": incident.severity,
            "version": incident.version, **values}
    return client.post(reverse("incidents:edit", args=[incident.pk]), data)


def test_severity_flipping_sends_major_mail_at_most_once_an_hour(reporter, reporter_client, on_call, responder,
                                                                 django_capture_on_commit_callbacks, tally):
    incident = make_incident(reporter=reporter, severity=Severity.SEV4)
    for _ in range(5):
        for severity in (Severity.SEV1, Severity.SEV4):
            incident.refresh_from_db()
            with django_capture_on_commit_callbacks(execute=True):
                edit(reporter_client, incident, severity=severity)
    major = [message for message in mail.outbox if "Raised to SEV1" in message.subject]
    assert sorted(message.to[0] for message in major) == ["oncall@example.com", "responder@example.com"]
    incident.refresh_from_db()
    with time_machine.travel(timezone.now() + timedelta(hours=1, minutes=1)), \
            django_capture_on_commit_callbacks(execute=True):
        incident_update(incident, actor=reporter, expected_version=incident.version, severity=Severity.SEV1)
    assert len([message for message in mail.outbox if "Raised to SEV1" in message.subject]) == 4
    tally("mail-abuse", "severity flips", 10)


def test_once_a_responder_took_the_incident_up_its_severity_is_theirs(reporter, reporter_client, responder, tally):
    incident = make_incident(reporter=reporter, severity=Severity.SEV3)
    incident = incident_update(incident, actor=responder, expected_version=incident.version, assignee=responder)
    page = reporter_client.get(reverse("incidents:edit", args=[incident.pk])).content.decode()
    assert 'name="severity"' not in page
    response = edit(reporter_client, incident, severity=Severity.SEV1, title="Still broken")
    incident.refresh_from_db()
    assert (incident.severity, incident.title) == (Severity.SEV3, "Still broken"), "the smuggled severity is ignored"
    with pytest.raises(PermissionDenied, match="Severity is the responders' to set"):
        incident_update(incident, actor=reporter, expected_version=incident.version, severity=Severity.SEV1)
    assert response.status_code == 302
    tally("mail-abuse", "severity after triage", 2)


def test_the_edit_right_is_checked_on_the_locked_row(reporter, responder):
    """The reporter's copy says Open; meanwhile a responder started work, and the version it carries is current."""
    stale = make_incident(reporter=reporter)
    started = incident_transition(stale, actor=responder, name="start")
    stale.version = started.version
    with pytest.raises(PermissionDenied):
        incident_update(stale, actor=reporter, expected_version=started.version, title="Rewritten")
    assert Incident.objects.get().title == stale.title
