"""Forms accept only their own fields: extra fields a reporter adds to a POST change nothing."""
from __future__ import annotations

import uuid

import pytest
from django.urls import reverse
from django_otp.plugins.otp_totp.models import TOTPDevice

from incidents.models import Comment, Incident
from incidents.workflow import Status
from tests.factories import DEFAULT_PASSWORD, make_incident, totp_code

pytestmark = pytest.mark.django_db


@pytest.fixture
def smuggled(responder, other_reporter) -> dict[str, str]:
    """Fields that belong to responders, the system or the account, added to a reporter's form."""
    return {
        "status": Status.CLOSED, "assignee": str(responder.pk), "reporter": str(other_reporter.pk),
        "reporter_id": str(other_reporter.pk), "is_staff": "on", "is_superuser": "on", "version": "99",
        "acknowledged_at": "2020-01-01T00:00:00Z", "resolved_at": "2020-01-01T00:00:00Z", "internal": "on",
        "author": str(responder.pk), "confirmed": "on", "key": "00" * 20,
    }


def test_reporting_ignores_smuggled_fields(reporter, reporter_client, smuggled, tally):
    reporter_client.post(reverse("incidents:create"), {
        **smuggled, "title": "Disk full", "description": "On the file server", "severity": 3,
        "submission_token": str(uuid.uuid4()),
    })
    incident = Incident.objects.get()
    assert (incident.status, incident.reporter, incident.assignee, incident.version) == (Status.OPEN, reporter, None, 1)
    assert incident.acknowledged_at is None and incident.resolved_at is None
    reporter.refresh_from_db()
    assert not reporter.is_staff and not reporter.is_superuser
    tally("mass-assignment", "smuggled fields", len(smuggled))


def test_editing_ignores_smuggled_fields(reporter, reporter_client, smuggled):
    incident = make_incident(reporter=reporter)
    response = reporter_client.post(reverse("incidents:edit", args=[incident.pk]), {
        **smuggled, "title": "Disk really full", "description": "Still", "severity": 2, "version": 1,
    })
    assert response.status_code == 302
    incident.refresh_from_db()
    assert incident.title == "Disk really full"
    assert (incident.status, incident.reporter, incident.assignee) == (Status.OPEN, reporter, None)


def test_reporter_comment_cannot_be_an_internal_note_or_someone_elses(reporter, reporter_client, smuggled):
    incident = make_incident(reporter=reporter)
    reporter_client.post(reverse("incidents:comment", args=[incident.pk]), {**smuggled, "body": "Any news?"})
    comment = Comment.objects.get()
    assert (comment.internal, comment.author) == (False, reporter)


def test_account_forms_ignore_smuggled_fields(reporter, reporter_client, smuggled):
    new = "a-much-longer-passphrase-77"
    reporter_client.post(reverse("accounts:password_change"), {
        **smuggled, "old_password": DEFAULT_PASSWORD, "new_password1": new, "new_password2": new,
    })
    reporter_client.post(reverse("accounts:enrol_start"), smuggled)
    device = TOTPDevice.objects.get()
    reporter_client.post(reverse("accounts:enrol_confirm"), {**smuggled, "code": totp_code(device)})
    device.refresh_from_db()
    assert device.key != smuggled["key"] and device.user == reporter
    reporter.refresh_from_db()
    assert not reporter.is_staff and not reporter.is_superuser
    assert reporter.check_password(new)
