"""
Floods aimed at the audit log: every audit row queues behind the chain's lock that each
incident write also takes, so failures are counted in windows, one row per account and
window, and exports are limited.
"""
from __future__ import annotations

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse

from audit.models import Action, AuditLog, SignInFailureWindow
from tests.conftest import password_step
from tests.factories import make_totp_device

pytestmark = pytest.mark.django_db

FLOOD = 30


def test_a_flood_of_wrong_codes_writes_one_audit_row(reporter, tally):
    make_totp_device(user=reporter)
    client = Client()
    password_step(client, "reporter")
    for attempt in range(FLOOD):
        client.post(reverse("accounts:login_code"), {"code": f"{attempt:06d}"})
    assert AuditLog.objects.filter(action=Action.OTP_FAILED).count() == 1
    assert SignInFailureWindow.objects.get(action=Action.OTP_FAILED).failures == FLOOD
    tally("audit flood", "wrong or throttled codes", FLOOD)


def test_wrong_current_passwords_are_counted_in_a_window_and_then_refused(reporter, reporter_client, tally):
    make_totp_device(user=reporter)
    answers = [reporter_client.post(reverse("accounts:backup_codes"), {"password": f"guess-{attempt}", "code": "123456"})
               for attempt in range(FLOOD)]
    assert AuditLog.objects.filter(action=Action.SIGN_IN_FAILED).count() == 1
    window = SignInFailureWindow.objects.get(action=Action.SIGN_IN_FAILED, key=f"account:{reporter.pk}")
    assert window.failures == settings.AXES_FAILURE_LIMIT, "past the limit nothing is even checked"
    assert "That is not your current password." in answers[0].content.decode()
    assert "Too many wrong passwords. Wait 15 minutes" in answers[-1].content.decode()
    tally("audit flood", "wrong current passwords", FLOOD)


def test_the_password_change_form_is_throttled_too(reporter_client):
    for attempt in range(settings.AXES_FAILURE_LIMIT):
        reporter_client.post(reverse("accounts:password_change"), {
            "old_password": f"guess-{attempt}", "new_password1": "A-new-long-passphrase-42",
            "new_password2": "A-new-long-passphrase-42"})
    refused = reporter_client.post(reverse("accounts:password_change"), {
        "old_password": "correct-horse-battery-staple", "new_password1": "A-new-long-passphrase-42",
        "new_password2": "A-new-long-passphrase-42"})
    assert "Too many wrong passwords. Wait 15 minutes" in refused.content.decode()
    assert AuditLog.objects.filter(action=Action.PASSWORD_CHANGED).count() == 0


def test_exports_write_one_row_each_and_are_limited(reporter_client, settings):
    settings.INCIDENT_EXPORTS_PER_HOUR = 3
    statuses = [reporter_client.get(reverse("incidents:export")).status_code for _ in range(5)]
    assert statuses == [200] * 3 + [429] * 2
    assert AuditLog.objects.filter(action=Action.INCIDENTS_EXPORTED).count() == 3
    refused = reporter_client.get(reverse("incidents:export"))
    assert "exported the incident list 3 times this hour" in refused.content.decode()
    assert refused["Retry-After"] == "3600"
