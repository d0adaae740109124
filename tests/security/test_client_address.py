"""
Who the client is: X-Forwarded-For is believed only from the proxies in TRUSTED_PROXIES,
so a client that rotates the header escapes neither the lockout nor the reset limit, and
cannot put a made-up address into the audit log.
"""
from __future__ import annotations

import os
import runpy
import subprocess
import sys

import pytest
from axes.models import AccessAttempt
from django.conf import settings
from django.contrib.auth import SESSION_KEY
from django.core.cache import cache
from django.test import Client, RequestFactory
from django.urls import reverse

from audit.middleware import client_ip
from audit.models import Action, AuditLog
from tests.conftest import password_step
from tests.factories import DEFAULT_PASSWORD, make_user

pytestmark = pytest.mark.django_db

ATTACKER = "198.51.100.23"


def forged(number: int) -> str:
    return f"203.0.113.{number}"


def test_rotating_forwarded_for_from_an_untrusted_address_does_not_reset_the_lockout(client, tally):
    make_user(username="victim")
    for attempt in range(settings.AXES_FAILURE_LIMIT):
        client.post(reverse("accounts:login"), {"username": "victim", "password": f"guess-{attempt}"},
                    REMOTE_ADDR=ATTACKER, HTTP_X_FORWARDED_FOR=forged(attempt))
    response = client.post(reverse("accounts:login"), {"username": "victim", "password": DEFAULT_PASSWORD},
                           REMOTE_ADDR=ATTACKER, HTTP_X_FORWARDED_FOR=forged(99))
    assert response.status_code == 429
    assert SESSION_KEY not in client.session
    assert set(AccessAttempt.objects.values_list("ip_address", flat=True)) == {ATTACKER}
    tally("spoofing", "rotating X-Forwarded-For", settings.AXES_FAILURE_LIMIT + 1)


def test_rotating_forwarded_for_does_not_lift_the_password_reset_limit(client, settings, tally):
    settings.PASSWORD_RESET_REQUESTS_PER_HOUR = 2
    statuses = [
        client.post(reverse("accounts:password_reset"), {"email": f"nobody{number}@example.com"},
                    REMOTE_ADDR=ATTACKER, HTTP_X_FORWARDED_FOR=forged(number)).status_code
        for number in range(3)
    ]
    assert statuses == [302, 302, 429]
    tally("spoofing", "rotating X-Forwarded-For", 3)


def test_audit_rows_record_the_connecting_address_not_a_forged_one(client, reporter, tally):
    password_step(client, "reporter", password="wrong-password", remote_addr=ATTACKER)
    client.post(reverse("accounts:login"), {"username": "reporter", "password": "wrong-password"},
                REMOTE_ADDR=ATTACKER, HTTP_X_FORWARDED_FOR="10.0.0.1")
    assert set(AuditLog.objects.filter(action=Action.SIGN_IN_FAILED).values_list("ip_address", flat=True)) == {ATTACKER}
    tally("spoofing", "forged audit address", 1)


@pytest.mark.parametrize(("trusted", "remote", "forwarded", "expected"), [
    ([], "192.0.2.10", "203.0.113.5", "192.0.2.10"),
    (["10.0.0.0/8"], "10.1.2.3", "203.0.113.5", "203.0.113.5"),
    # The client's own entries come first; only what the trusted proxies appended is believed.
    (["10.0.0.0/8"], "10.1.2.3", "1.1.1.1, 203.0.113.5", "203.0.113.5"),
    # A chain of trusted proxies: the first address none of them owns is the client.
    (["10.0.0.0/8", "127.0.0.1"], "127.0.0.1", "1.1.1.1, 203.0.113.5, 10.9.9.9", "203.0.113.5"),
    (["10.0.0.0/8"], "192.0.2.10", "203.0.113.5", "192.0.2.10"),
    (["10.0.0.0/8"], "10.1.2.3", "not-an-address", "10.1.2.3"),
    (["10.0.0.0/8"], "10.1.2.3", "", "10.1.2.3"),
    (["::1/128"], "::1", "2001:db8::7", "2001:db8::7"),
])
def test_client_address_believes_only_trusted_proxies(trusted, remote, forwarded, expected, settings):
    settings.TRUSTED_PROXIES = trusted
    request = RequestFactory().get("/", REMOTE_ADDR=remote, HTTP_X_FORWARDED_FOR=forwarded)
    assert client_ip(request) == expected


def test_behind_a_trusted_proxy_the_forwarded_client_is_locked_out_and_others_are_not(settings):
    settings.TRUSTED_PROXIES = ["10.0.0.0/8"]
    make_user(username="victim")
    proxy = Client(REMOTE_ADDR="10.0.0.2")
    for attempt in range(settings.SIGN_IN_ADDRESS_FAILURE_LIMIT):
        proxy.post(reverse("accounts:login"), {"username": f"user{attempt}", "password": "guess"},
                   HTTP_X_FORWARDED_FOR=ATTACKER)
    assert proxy.post(reverse("accounts:login"), {"username": "victim", "password": DEFAULT_PASSWORD},
                      HTTP_X_FORWARDED_FOR=ATTACKER).status_code == 429
    neighbour = Client(REMOTE_ADDR="10.0.0.2")
    assert neighbour.post(reverse("accounts:login"), {"username": "victim", "password": DEFAULT_PASSWORD},
                          HTTP_X_FORWARDED_FOR="192.0.2.44").status_code == 302


@pytest.mark.parametrize(("trusted", "expected"), [
    ("", "127.0.0.1,::1"),
    ("127.0.0.1", "127.0.0.1"),
    ("127.0.0.1, ::1/128", "127.0.0.1,::1"),
    ("10.0.0.0/8", "*"),
])
def test_gunicorn_believes_the_scheme_header_from_the_same_proxies(trusted, expected, monkeypatch):
    monkeypatch.setattr(os, "environ", {**os.environ, "TRUSTED_PROXIES": trusted})
    config = runpy.run_path(str(settings.BASE_DIR / "gunicorn.conf.py"))
    config.get("on_exit", lambda server: None)(None)
    assert config["forwarded_allow_ips"] == expected


def test_a_proxy_list_that_is_not_addresses_stops_the_start():
    result = subprocess.run([sys.executable, "-c", "import django; django.setup()"], capture_output=True, text=True,
                            env={**os.environ, "DJANGO_SETTINGS_MODULE": "incident_tracker.settings", "DEBUG": "true",
                                 "TRUSTED_PROXIES": "10.0.0.0/8,proxy.example"}, cwd=settings.BASE_DIR)
    assert result.returncode != 0
    assert "TRUSTED_PROXIES: 'proxy.example' is not an IP address or network." in result.stderr


def test_the_api_throttle_counts_an_anonymous_client_by_its_address_not_its_header(settings, tally):
    """DRF's own throttle keyed anonymous callers on the raw X-Forwarded-For: a new value per request escaped it."""
    settings.API_RATE_PER_MINUTE = 3
    cache.clear()
    statuses = [Client(REMOTE_ADDR="203.0.113.77").get("/api/v1/schema/", HTTP_X_FORWARDED_FOR=f"198.51.100.{n}").status_code
                for n in range(5)]
    assert statuses == [200] * 3 + [429] * 2
    tally("spoofing", "rotating X-Forwarded-For at the API", 5)
