from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.urls import reverse

from accounts.services import user_preferences_update
from audit.models import Action, AuditLog
from tests.factories import make_incident

pytestmark = pytest.mark.django_db

PREFERENCES = reverse("accounts:preferences")


def test_anonymous_visitor_is_sent_to_sign_in(client):
    response = client.get(PREFERENCES)
    assert response.status_code == 302
    assert response["Location"] == f"{reverse('accounts:login')}?next={PREFERENCES}"


def test_reporter_sees_only_the_kinds_that_concern_reporters(reporter_client):
    page = reporter_client.get(PREFERENCES).content.decode()
    assert 'name="notify_status"' in page and 'name="notify_comments"' in page
    assert 'name="notify_assigned"' not in page and 'name="notify_major"' not in page
    assert "The site&#x27;s time zone (UTC)" in page


def test_responder_turns_off_major_incident_mail_and_picks_a_zone(responder_client, responder):
    response = responder_client.post(PREFERENCES, {
        "time_zone": "Europe/Paris", "notify_assigned": "on", "notify_status": "on", "notify_comments": "on"})
    assert response.status_code == 302
    assert response["Location"] == PREFERENCES
    responder.refresh_from_db()
    assert responder.time_zone == "Europe/Paris"
    assert responder.notify_major is False and responder.notify_assigned is True
    entry = AuditLog.objects.get(action=Action.USER_CHANGED)
    assert entry.actor == responder
    assert entry.changes == {"time_zone": ["", "Europe/Paris"], "notify_major": [True, False]}


def test_unknown_time_zone_is_refused_and_nothing_changes(reporter_client, reporter):
    response = reporter_client.post(PREFERENCES, {"time_zone": "Mars/Olympus_Mons", "notify_status": "on"})
    assert response.status_code == 200
    assert "Select a valid choice. Mars/Olympus_Mons is not one of the available choices." in response.content.decode()
    reporter.refresh_from_db()
    assert reporter.time_zone == "" and reporter.notify_comments is True
    assert not AuditLog.objects.filter(action=Action.USER_CHANGED).exists()


def test_a_reporter_cannot_set_responder_only_fields_or_other_fields(reporter_client, reporter):
    reporter_client.post(PREFERENCES, {"notify_status": "on", "notify_comments": "on", "is_staff": "on",
                                       "notify_major": "", "email": "evil@example.com"})
    reporter.refresh_from_db()
    assert reporter.is_staff is False and reporter.email == "reporter@example.com" and reporter.notify_major is True


def test_saving_unchanged_preferences_writes_no_audit_row(reporter, responder):
    user_preferences_update(reporter, actor=reporter, time_zone="", notify_status=True)
    assert not AuditLog.objects.exists()
    with pytest.raises(ValueError, match="Not a preference: is_staff"):
        user_preferences_update(reporter, actor=reporter, is_staff=True)


def test_pages_show_dates_in_the_users_time_zone(reporter_client, reporter):
    incident = make_incident(reporter=reporter, created_at=datetime(2026, 1, 15, 12, 0, tzinfo=UTC))
    detail = reverse("incidents:detail", args=[incident.pk])
    assert "2026-01-15T12:00:00+00:00" in reporter_client.get(detail).content.decode()
    reporter.time_zone = "Asia/Kolkata"
    reporter.save()
    assert "2026-01-15T17:30:00+05:30" in reporter_client.get(detail).content.decode()
