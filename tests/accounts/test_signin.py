from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.conf import settings
from django.contrib.auth import SESSION_KEY
from django.urls import reverse
from django.utils import timezone

from audit.models import Action, AuditLog
from tests.factories import DEFAULT_PASSWORD, make_backup_codes, make_totp_device, make_user, totp_code

pytestmark = pytest.mark.django_db

LOGIN = reverse("accounts:login")
CODE = reverse("accounts:login_code")


def password_step(client, username: str, *, password: str = DEFAULT_PASSWORD, next_url: str = ""):
    return client.post(LOGIN, {"username": username, "password": password, "next": next_url})


def test_reporter_without_device_is_signed_in_by_password_and_gets_a_new_session_key(client, reporter):
    before = client.session.session_key
    response = password_step(client, "reporter")
    assert response.status_code == 302 and response["Location"] == reverse("dashboard")
    assert client.session[SESSION_KEY] == str(reporter.pk)
    assert client.session.session_key != before


def test_user_with_device_gives_a_code_and_the_key_rotates_at_both_steps(client, reporter):
    device = make_totp_device(user=reporter)
    first_key = client.session.session_key
    response = password_step(client, "reporter", next_url="/incidents/")
    assert response.status_code == 302 and response["Location"] == CODE
    assert SESSION_KEY not in client.session, "nobody is signed in before the code"
    second_key = client.session.session_key
    assert second_key != first_key
    assert client.get(reverse("dashboard")).status_code == 302

    page = client.get(CODE)
    assert "Enter your code" in page.content.decode()
    response = client.post(CODE, {"code": totp_code(device)})
    assert response.status_code == 302 and response["Location"] == "/incidents/"
    assert client.session[SESSION_KEY] == str(reporter.pk)
    assert client.session.session_key != second_key
    assert client.get(reverse("dashboard")).status_code == 200


def test_wrong_code_is_refused_recorded_and_throttled(client, reporter):
    device = make_totp_device(user=reporter)
    password_step(client, "reporter")
    wrong = "000000" if totp_code(device) != "000000" else "111111"
    response = client.post(CODE, {"code": wrong})
    assert response.status_code == 200
    assert "That code is not valid" in response.content.decode()
    assert SESSION_KEY not in client.session
    failure = AuditLog.objects.get(action=Action.OTP_FAILED)
    assert failure.actor == reporter and failure.changes["reason"] == "wrong code"

    # Straight away even the right code waits: the device backs off after a failure.
    response = client.post(CODE, {"code": totp_code(device)})
    assert "Too many wrong codes in a row. Wait 1 seconds" in response.content.decode()
    assert SESSION_KEY not in client.session
    assert AuditLog.objects.filter(action=Action.OTP_FAILED, changes__reason="throttled").count() == 1


def test_backup_code_signs_in_once_only(client, reporter):
    make_totp_device(user=reporter)
    make_backup_codes(user=reporter, codes=("abcd2345",))
    password_step(client, "reporter")
    assert client.post(CODE, {"code": "ABCD-2345"}).status_code == 302
    assert client.session[SESSION_KEY] == str(reporter.pk)

    client.post(reverse("accounts:logout"))
    password_step(client, "reporter")
    response = client.post(CODE, {"code": "abcd2345"})
    assert response.status_code == 200
    assert SESSION_KEY not in client.session


def test_code_step_without_password_step_goes_back_to_sign_in(client, reporter):
    response = client.get(CODE)
    assert response.status_code == 302 and response["Location"] == LOGIN


def test_half_sign_in_expires(client, reporter):
    device = make_totp_device(user=reporter)
    password_step(client, "reporter")
    with time_machine.travel(timezone.now() + timedelta(seconds=settings.SIGN_IN_CODE_TIMEOUT + 5)):
        response = client.post(CODE, {"code": totp_code(device)})
    assert response.status_code == 302 and response["Location"] == LOGIN
    assert SESSION_KEY not in client.session


def test_hostile_next_is_ignored(client, reporter):
    for target in ("https://evil.example/", "//evil.example/", "javascript:alert(1)", "/\\evil.example"):
        response = password_step(client, "reporter", next_url=target)
        assert response["Location"] == reverse("dashboard"), target
        client.post(reverse("accounts:logout"))


def test_hostile_next_is_ignored_after_the_code_step(client, reporter):
    device = make_totp_device(user=reporter)
    password_step(client, "reporter", next_url="https://evil.example/")
    response = client.post(CODE, {"code": totp_code(device)})
    assert response["Location"] == reverse("dashboard")


def test_logout_is_post_only(client, reporter):
    password_step(client, "reporter")
    assert client.get(reverse("accounts:logout")).status_code == 405
    assert SESSION_KEY in client.session
    client.post(reverse("accounts:logout"))
    assert SESSION_KEY not in client.session


def test_staff_without_device_reach_only_enrolment(client, responder):
    password_step(client, "responder")
    for url in (reverse("dashboard"), reverse("incidents:list"), "/admin/"):
        response = client.get(url)
        assert response.status_code == 302 and response["Location"] == reverse("accounts:security"), url
    page = client.get(reverse("accounts:security"))
    assert page.status_code == 200
    assert "Staff accounts must use two-factor sign-in" in page.content.decode()


def test_staff_with_device_but_unverified_session_are_asked_for_a_code(client, responder):
    device = make_totp_device(user=responder)
    client.force_login(responder)
    response = client.get(reverse("incidents:list"))
    assert response["Location"] == CODE
    before = client.session.session_key
    assert client.post(CODE, {"code": totp_code(device)})["Location"] == reverse("dashboard")
    assert client.session.session_key != before
    assert client.get(reverse("incidents:list")).status_code == 200


def test_signed_in_user_is_sent_away_from_the_sign_in_page(reporter_client):
    assert reporter_client.get(LOGIN)["Location"] == reverse("dashboard")


def test_password_change_between_steps_voids_the_half_sign_in(client, reporter):
    device = make_totp_device(user=reporter)
    password_step(client, "reporter")
    reporter.set_password("a-brand-new-passphrase-42")
    reporter.save()
    assert client.post(CODE, {"code": totp_code(device)})["Location"] == LOGIN


def test_repeated_wrong_passwords_lock_the_account_out_with_attempts_logged(client):
    from axes.models import AccessAttempt

    make_user(username="victim")
    for _ in range(settings.AXES_FAILURE_LIMIT):
        password_step(client, "victim", password="wrong-password")
    response = password_step(client, "victim")
    assert response.status_code == 429
    assert "Too many failed sign-in attempts" in response.content.decode()
    assert SESSION_KEY not in client.session
    attempt = AccessAttempt.objects.get(username="victim")
    assert attempt.failures_since_start >= settings.AXES_FAILURE_LIMIT
