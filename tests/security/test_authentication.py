"""Sign-in attacks: session fixation, open redirects, guessing passwords and codes, replaying backup codes."""
from __future__ import annotations

import re
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
import time_machine
from axes.models import AccessAttempt
from django.conf import settings
from django.contrib.auth import SESSION_KEY
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.delays import DEVICE_COOKIE
from audit.models import Action, AuditLog, SignInFailureWindow
from tests.conftest import password_step
from tests.factories import make_backup_codes, make_totp_device, make_user, totp_code

from .payloads import OPEN_REDIRECTS

pytestmark = pytest.mark.django_db

LOGIN = reverse("accounts:login")
CODE = reverse("accounts:login_code")


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
    assert failure.target_id == str(reporter.pk) and failure.changes["reason"] == "wrong code"

    # Straight away even the right code waits: the device backs off after a failure.
    response = client.post(CODE, {"code": totp_code(device)})
    assert "Too many wrong codes in a row. Wait 1 seconds" in response.content.decode()
    assert SESSION_KEY not in client.session
    assert AuditLog.objects.filter(action=Action.OTP_FAILED).count() == 1, "counted in the window, not a row each"
    assert SignInFailureWindow.objects.get(action=Action.OTP_FAILED, key=f"account:{reporter.pk}").failures == 2


def test_backup_code_signs_in_once_only(client, reporter, tally):
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
    assert AuditLog.objects.filter(action=Action.OTP_FAILED, target_id=str(reporter.pk)).count() == 1
    tally("replay", "backup code reuse", 1)


def stays_on_site(location: str) -> bool:
    """Where a browser would go, read as browsers do (tabs and newlines dropped, backslashes as slashes)."""
    normalised = re.sub(r"[\t\n\r]", "", location).replace("\\", "/").strip()
    parts = urlsplit(normalised)
    return not parts.scheme and not parts.netloc and not normalised.startswith("//")


@pytest.mark.parametrize("target", OPEN_REDIRECTS)
def test_hostile_next_is_ignored(target, client, reporter, tally):
    response = password_step(client, "reporter", next_url=target)
    assert stays_on_site(response["Location"]), target
    tally("open-redirect", "next= after password", 1)


@pytest.mark.parametrize("target", OPEN_REDIRECTS)
def test_hostile_next_is_ignored_after_the_code_step(target, client, reporter, tally):
    device = make_totp_device(user=reporter)
    password_step(client, "reporter", next_url=target)
    response = client.post(CODE, {"code": totp_code(device)})
    assert stays_on_site(response["Location"]), target
    tally("open-redirect", "next= after code", 1)


def test_admin_sign_in_passes_hostile_next_on_to_the_checked_sign_in(client, reporter):
    response = client.get(reverse("admin:login"), {"next": "https://evil.example/"})
    passed_on = parse_qs(urlsplit(response["Location"]).query)["next"][0]
    assert passed_on == "https://evil.example/"
    assert password_step(client, "reporter", next_url=passed_on)["Location"] == reverse("dashboard")


def test_safe_next_is_followed(client, reporter):
    assert password_step(client, "reporter", next_url="/incidents/?status=open")["Location"] == "/incidents/?status=open"


def test_repeated_wrong_passwords_lock_the_account_out_at_that_address_with_attempts_logged(client, tally):
    victim = make_user(username="victim")
    for attempt in range(settings.AXES_FAILURE_LIMIT):
        response = password_step(client, "victim", password=f"guess-{attempt}", remote_addr="203.0.113.9")
    assert response.status_code == 429
    response = password_step(client, "victim", remote_addr="203.0.113.9")
    assert response.status_code == 429, "the right password from that address is refused too"
    assert "Too many failed sign-in attempts" in response.content.decode()
    assert SESSION_KEY not in client.session
    attempts = AccessAttempt.objects.filter(username="victim")
    assert sum(row.failures_since_start for row in attempts) >= settings.AXES_FAILURE_LIMIT
    failures = AuditLog.objects.filter(action=Action.SIGN_IN_FAILED, target_id=str(victim.pk))
    assert failures.count() == 1, "one row per account and window, with the count beside it"
    assert SignInFailureWindow.objects.get(action=Action.SIGN_IN_FAILED).failures >= settings.AXES_FAILURE_LIMIT
    assert AuditLog.objects.filter(action=Action.LOCKED_OUT, target_label="victim").exists()
    tally("throttling", "password guesses", settings.AXES_FAILURE_LIMIT)


def test_a_reporters_wrong_passwords_do_not_lock_a_responder_out_elsewhere(tally):
    make_user(username="responder", is_staff=True)
    reporter = Client(REMOTE_ADDR="203.0.113.50")
    for attempt in range(settings.AXES_FAILURE_LIMIT):
        password_step(reporter, "responder", password=f"guess-{attempt}")
    assert password_step(reporter, "responder").status_code == 429
    with time_machine.travel(timezone.now() + timedelta(seconds=2)):
        response = password_step(Client(REMOTE_ADDR="198.51.100.7"), "responder")
    assert response.status_code == 302, "the responder signs in from their own address"
    tally("throttling", "lockout aimed at another account", settings.AXES_FAILURE_LIMIT)


def test_one_account_guessed_from_many_addresses_waits_longer_after_each_failure(tally):
    make_user(username="victim")
    start = timezone.now()
    limit = settings.AXES_FAILURE_LIMIT
    for attempt in range(limit + 2):
        # Each guess waits out the delay the previous ones earned: 1 s, then 2 s.
        with time_machine.travel(start + timedelta(seconds=10 * attempt), tick=False):
            response = password_step(Client(), "victim", password=f"guess-{attempt}", remote_addr=f"203.0.113.{attempt}")
        assert response.status_code == 200, attempt
    last = start + timedelta(seconds=10 * (limit + 1))
    with time_machine.travel(last + timedelta(seconds=2), tick=False):
        response = password_step(Client(), "victim", remote_addr="198.51.100.7")
    assert response.status_code == 429
    assert "Too many wrong passwords for this account. Wait 2 seconds, then try again." in response.content.decode()
    counted = sum(row.failures_since_start for row in AccessAttempt.objects.all())
    assert counted == limit + 2, "a refused attempt is not counted"
    with time_machine.travel(last + timedelta(seconds=5)):
        assert password_step(Client(), "victim", remote_addr="198.51.100.7").status_code == 302
    tally("throttling", "distributed password guesses", limit + 3)


def test_one_address_guessing_many_accounts_is_locked_out(tally):
    make_user(username="alice")
    attacker = Client(REMOTE_ADDR="192.0.2.66")
    for number in range(settings.SIGN_IN_ADDRESS_FAILURE_LIMIT):
        password_step(attacker, f"user{number}", password="Winter2026!")
    refused = password_step(attacker, "alice")
    assert refused.status_code == 429
    assert "Too many failed sign-ins came from your network" in refused.content.decode()
    assert SESSION_KEY not in attacker.session
    assert password_step(Client(REMOTE_ADDR="192.0.2.1"), "alice").status_code == 302, "others are not locked out"
    tally("throttling", "password spraying", settings.SIGN_IN_ADDRESS_FAILURE_LIMIT)


def test_a_sixth_typo_from_a_shared_address_does_not_lock_out_a_colleague(tally):
    """Behind one office NAT: one person mistypes six times; the next person signs in."""
    make_user(username="clumsy")
    make_user(username="colleague")
    office = "198.51.100.200"
    for attempt in range(settings.AXES_FAILURE_LIMIT + 1):
        password_step(Client(REMOTE_ADDR=office), "clumsy", password=f"typo-{attempt}")
    assert password_step(Client(REMOTE_ADDR=office), "colleague").status_code == 302
    tally("throttling", "shared-address lockout", settings.AXES_FAILURE_LIMIT + 1)


def test_a_known_device_signs_in_while_an_attacker_keeps_the_account_waiting(tally):
    """
    The attacker sends one wrong password whenever the account's delay allows, from four
    addresses in turn; the victim's browser, which signed in before, is not held up.
    """
    make_user(username="victim")
    victim = Client(REMOTE_ADDR="198.51.100.7")
    assert password_step(victim, "victim").status_code == 302
    assert DEVICE_COOKIE in victim.cookies
    victim.post(reverse("accounts:logout"))
    start = timezone.now()
    guesses = settings.AXES_FAILURE_LIMIT + 4
    for attempt in range(guesses):
        with time_machine.travel(start + timedelta(seconds=61 * attempt), tick=False):
            password_step(Client(), "victim", password=f"guess-{attempt}", remote_addr=f"203.0.113.{attempt % 4}")
    with time_machine.travel(start + timedelta(seconds=61 * (guesses - 1) + 1), tick=False):
        stranger = password_step(Client(REMOTE_ADDR="192.0.2.99"), "victim")
        assert stranger.status_code == 429, "a client the account never signed in from still waits"
        assert password_step(victim, "victim").status_code == 302, "the owner's browser does not"
    assert not AccessAttempt.objects.filter(username="victim").exists(), "success clears every count of the account"
    tally("throttling", "targeted lockout from rotating addresses", guesses)


def test_a_known_device_cookie_for_another_account_or_forged_does_not_exempt():
    make_user(username="victim")
    make_user(username="attacker")
    attacker = Client(REMOTE_ADDR="192.0.2.10")
    assert password_step(attacker, "attacker").status_code == 302
    attacker.post(reverse("accounts:logout"))
    start = timezone.now()
    for attempt in range(settings.AXES_FAILURE_LIMIT + 1):
        with time_machine.travel(start, tick=False):
            password_step(Client(), "victim", password=f"guess-{attempt}", remote_addr=f"203.0.113.{attempt}")
    with time_machine.travel(start, tick=False):
        assert password_step(attacker, "victim").status_code == 429
        attacker.cookies[DEVICE_COOKIE] = '{"username": "victim"}'
        assert password_step(attacker, "victim").status_code == 429


def test_lockout_is_shared_by_every_app_process(client):
    """The counts live in the database: a fresh client (any process) sees the lockout at once."""
    make_user(username="victim")
    for _ in range(settings.AXES_FAILURE_LIMIT):
        password_step(Client(REMOTE_ADDR="198.51.100.9"), "victim", password="wrong-password")
    assert AccessAttempt.objects.filter(username="victim").exists()
    assert password_step(Client(REMOTE_ADDR="198.51.100.9"), "victim").status_code == 429


def test_lockout_ends_after_the_cool_off(client):
    make_user(username="victim")
    for _ in range(settings.AXES_FAILURE_LIMIT):
        password_step(client, "victim", password="wrong-password")
    later = timezone.now() + settings.AXES_COOLOFF_TIME * timedelta(hours=1) + timedelta(minutes=1)
    with time_machine.travel(later):
        assert password_step(Client(), "victim").status_code == 302
