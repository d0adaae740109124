from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.conf import settings
from django.contrib.auth import SESSION_KEY
from django.urls import reverse
from django.utils import timezone

from tests.conftest import password_step
from tests.factories import make_totp_device, totp_code

pytestmark = pytest.mark.django_db

LOGIN = reverse("accounts:login")
CODE = reverse("accounts:login_code")


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
