"""
The signed-in user and device each worker keeps (accounts/signed_in.py): a repeat reads
neither, and a change made anywhere takes effect on the very next request.
"""
from __future__ import annotations

import time
from types import SimpleNamespace

import pytest
from django.contrib.auth import SESSION_KEY
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts import signed_in
from accounts.models import User
from tests.conftest import signed_in_verified

pytestmark = pytest.mark.django_db

DASHBOARD = reverse("dashboard")


def account_queries(client) -> list[str]:
    with CaptureQueriesContext(connection) as queries:
        assert client.get(DASHBOARD).status_code == 200
    return [query["sql"] for query in queries if "accounts_user" in query["sql"] or "otp_" in query["sql"]]


def test_a_repeat_request_reads_neither_user_nor_device(responder_client):
    account_queries(responder_client)
    assert account_queries(responder_client) == []


def test_a_deactivated_user_is_signed_out_on_the_next_request(responder_client, responder, admin_client):
    assert responder_client.get(DASHBOARD).status_code == 200
    change = reverse("admin:accounts_user_change", args=[responder.pk])
    form = admin_client.get(change).context["adminform"].form
    data = {name: value for name, value in form.initial.items() if value is not None and name != "is_active"}
    data.update(username=responder.username, groups=[], user_permissions=[], date_joined_0="2026-01-01",
                date_joined_1="00:00:00", last_login_0="", last_login_1="")
    response = admin_client.post(change, data)
    assert response.status_code == 302, response.context["adminform"].form.errors if response.context else ""
    assert not User.objects.get(pk=responder.pk).is_active
    response = responder_client.get(DASHBOARD)
    assert response.status_code == 302 and response["Location"].startswith(reverse("accounts:login"))


def test_a_password_changed_elsewhere_signs_this_session_out(responder_client, responder):
    assert responder_client.get(DASHBOARD).status_code == 200
    user = User.objects.get(pk=responder.pk)
    user.set_password("a brand new passphrase 42")
    user.save()
    assert responder_client.get(DASHBOARD).status_code == 302
    assert SESSION_KEY not in responder_client.session


def test_a_removed_authenticator_stops_staff_at_once(responder_client, responder):
    assert responder_client.get(DASHBOARD).status_code == 200
    for device in TOTPDevice.objects.filter(user=responder):
        device.delete()
    response = responder_client.get(DASHBOARD)
    assert response.status_code == 302 and "/accounts/" in response["Location"]


def test_a_change_made_outside_the_application_shows_within_the_row_lifetime(reporter, monkeypatch):
    client = signed_in_verified(reporter)
    assert client.get(DASHBOARD).status_code == 200
    User.objects.filter(pk=reporter.pk).update(is_active=False)  # SQL: no signal, the token stays
    assert client.get(DASHBOARD).status_code == 200, "this worker's copy, until it is ROW_SECONDS old"
    later = time.monotonic() + signed_in.ROW_SECONDS + 1
    monkeypatch.setattr(signed_in, "time", SimpleNamespace(monotonic=lambda: later))
    assert client.get(DASHBOARD).status_code == 302
