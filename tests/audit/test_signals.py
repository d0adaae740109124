from __future__ import annotations

import json
import re

import pytest
import time_machine
from django.contrib.auth.signals import user_login_failed
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from audit.models import Action, AuditLog, SignInFailureWindow
from audit.services import FAILURE_WINDOW, unknown_username_label
from tests.factories import DEFAULT_PASSWORD, make_totp_device, totp_code

pytestmark = pytest.mark.django_db

WRONG_PASSWORD = "Tr0ub4dor&3-wrong"


def sign_in(client: Client, username: str, password: str):
    return client.post(reverse("accounts:login"), {"username": username, "password": password},
                       REMOTE_ADDR="198.51.100.4", HTTP_USER_AGENT="Firefox/140")


def test_completed_sign_in_is_recorded_once(client, reporter):
    client.force_login(reporter)
    row = AuditLog.objects.get()
    assert (row.action, row.actor, row.target_id, row.target_label) == (
        Action.SIGNED_IN, reporter, str(reporter.pk), "reporter")


def test_two_step_sign_in_is_recorded_once_when_the_code_completes_it(client, reporter):
    device = make_totp_device(user=reporter)
    sign_in(client, "reporter", DEFAULT_PASSWORD)
    assert not AuditLog.objects.filter(action=Action.SIGNED_IN).exists(), "the password alone signs nobody in"
    client.post(reverse("accounts:login_code"), {"code": totp_code(device)}, REMOTE_ADDR="198.51.100.4")
    row = AuditLog.objects.get(action=Action.SIGNED_IN)
    assert (row.actor, row.target_id, row.ip_address) == (reporter, str(reporter.pk), "198.51.100.4")


def test_wrong_password_is_recorded_without_the_password(client, reporter):
    response = sign_in(client, "reporter", WRONG_PASSWORD)
    assert response.status_code == 200
    row = AuditLog.objects.get()
    assert (row.action, row.actor, row.actor_username) == (Action.SIGN_IN_FAILED, None, "")
    assert (row.target_type, row.target_id, row.target_label) == ("accounts.user", str(reporter.pk), "reporter")
    assert (row.ip_address, row.user_agent) == ("198.51.100.4", "Firefox/140")
    stored = json.dumps([row.changes, row.target_label, row.user_agent])
    assert WRONG_PASSWORD not in stored and "*****" not in stored


def test_unknown_username_is_recorded_as_a_keyed_hash_never_in_clear(client):
    sign_in(client, "Winter2026!secret", WRONG_PASSWORD)
    row = AuditLog.objects.get()
    assert (row.action, row.target_type, row.target_id) == (Action.SIGN_IN_FAILED, "", "")
    assert row.target_label == unknown_username_label("Winter2026!secret")
    assert re.fullmatch(r"unknown account [0-9a-f]{16}", row.target_label)
    assert "Winter2026" not in json.dumps([row.changes, row.target_label])
    window = SignInFailureWindow.objects.get()
    assert (window.key, window.failures) == ("address:198.51.100.4", 1)


def test_a_flood_of_failures_writes_one_row_per_account_and_one_per_address_each_window(client, reporter, settings):
    settings.AXES_FAILURE_LIMIT = settings.SIGN_IN_ADDRESS_FAILURE_LIMIT = 1000
    for attempt in range(30):
        sign_in(Client(), "reporter", f"{WRONG_PASSWORD}{attempt}")
        sign_in(Client(), f"guess{attempt}", WRONG_PASSWORD)
    assert AuditLog.objects.filter(action=Action.SIGN_IN_FAILED).count() == 2
    windows = dict(SignInFailureWindow.objects.filter(action=Action.SIGN_IN_FAILED).values_list("key", "failures"))
    assert windows == {f"account:{reporter.pk}": 30, "address:198.51.100.4": 30}


def test_a_new_window_opens_a_new_row(client, reporter):
    sign_in(client, "reporter", WRONG_PASSWORD)
    with time_machine.travel(timezone.now() + FAILURE_WINDOW):
        sign_in(Client(), "reporter", WRONG_PASSWORD)
    assert AuditLog.objects.filter(action=Action.SIGN_IN_FAILED).count() == 2
    assert list(SignInFailureWindow.objects.values_list("failures", flat=True)) == [1, 1]


def test_sign_out_is_recorded(client, reporter):
    client.force_login(reporter)
    response = client.post(reverse("accounts:logout"))
    assert response.status_code == 302
    row = AuditLog.objects.get(action=Action.SIGNED_OUT)
    assert (row.action, row.actor, row.target_id) == (Action.SIGNED_OUT, reporter, str(reporter.pk))


def test_sign_out_without_a_session_records_nothing(client):
    client.post(reverse("accounts:logout"))
    assert not AuditLog.objects.exists()


def test_lockout_is_recorded_when_it_happens(client, reporter, settings):
    settings.AXES_FAILURE_LIMIT = 2
    sign_in(client, "reporter", WRONG_PASSWORD)
    assert not AuditLog.objects.filter(action=Action.LOCKED_OUT).exists()
    sign_in(client, "reporter", WRONG_PASSWORD)
    lockout = AuditLog.objects.get(action=Action.LOCKED_OUT)
    assert (lockout.actor, lockout.target_id, lockout.target_label) == (None, str(reporter.pk), "reporter")
    assert lockout.ip_address == "198.51.100.4"
    assert AuditLog.objects.filter(action=Action.SIGN_IN_FAILED).count() == 1
    assert SignInFailureWindow.objects.get(action=Action.SIGN_IN_FAILED).failures == 2


def test_locked_out_user_with_the_right_password_is_refused_and_recorded(client, reporter, settings):
    settings.AXES_FAILURE_LIMIT = 1
    sign_in(client, "reporter", WRONG_PASSWORD)
    response = sign_in(client, "reporter", DEFAULT_PASSWORD)
    assert response.status_code == 429
    assert not AuditLog.objects.filter(action=Action.SIGNED_IN).exists()
    assert AuditLog.objects.filter(action=Action.LOCKED_OUT).count() >= 1


def test_username_with_a_nul_character_is_recorded_cleaned_and_aimed_at_nobody(reporter):
    user_login_failed.send(sender=__name__, credentials={"username": "reporter\x00", "password": WRONG_PASSWORD})
    row = AuditLog.objects.get()
    assert (row.action, row.target_id, row.target_label) == (Action.SIGN_IN_FAILED, "", unknown_username_label("reporter"))
