"""The password reset form cannot be used to flood a mailbox or the mail server."""
from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.core import mail
from django.core.cache import cache
from django.urls import reverse
from django.utils import timezone

from tests.factories import make_user

pytestmark = pytest.mark.django_db

RESET = reverse("accounts:password_reset")
DONE = reverse("accounts:password_reset_done")


def ask(client, email: str, address: str = "203.0.113.7"):
    return client.post(RESET, {"email": email}, REMOTE_ADDR=address)


def test_an_address_gets_a_few_mails_an_hour_and_the_page_never_says_when_it_stops(client, reporter, settings):
    settings.PASSWORD_RESET_MAILS_PER_ADDRESS_PER_HOUR = 3
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        answers = [ask(client, "reporter@example.com", f"198.51.100.{number}") for number in range(5)]
    assert [(answer.status_code, answer["Location"]) for answer in answers] == [(302, DONE)] * 5
    assert len(mail.outbox) == 3
    unknown = ask(client, "nobody@example.com", "198.51.100.99")
    assert (unknown.status_code, unknown["Location"]) == (302, DONE), "the same answer for an unknown address"
    with time_machine.travel(start + timedelta(minutes=61), tick=False):
        ask(client, "REPORTER@example.com ", "198.51.100.50")
    assert len(mail.outbox) == 4, "a new hour, a new mail (the address compared without case or spaces)"


def test_one_address_spent_does_not_stop_another(client, reporter, settings):
    settings.PASSWORD_RESET_MAILS_PER_ADDRESS_PER_HOUR = 1
    make_user(username="colleague", email="colleague@example.com")
    ask(client, "reporter@example.com", "198.51.100.1")
    ask(client, "reporter@example.com", "198.51.100.2")
    ask(client, "colleague@example.com", "198.51.100.3")
    assert sorted(message.to[0] for message in mail.outbox) == ["colleague@example.com", "reporter@example.com"]


def test_a_client_asking_too_often_is_told_to_wait_and_nothing_is_sent(client, reporter, settings):
    settings.PASSWORD_RESET_REQUESTS_PER_HOUR = 4
    settings.PASSWORD_RESET_MAILS_PER_ADDRESS_PER_HOUR = 100
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        statuses = [ask(client, "reporter@example.com").status_code for _ in range(6)]
        refused = ask(client, "reporter@example.com")
        other_client = ask(client, "reporter@example.com", "192.0.2.44")
    assert statuses == [302] * 4 + [429] * 2
    assert refused.status_code == 429
    assert "Too many password reset requests came from your network" in refused.content.decode()
    assert len(mail.outbox) == 5, "four from the first client, one from the other"
    assert other_client.status_code == 302
    with time_machine.travel(start + timedelta(minutes=61), tick=False):
        assert ask(client, "reporter@example.com").status_code == 302


def test_flushing_the_cache_does_not_reset_the_limits(client, reporter, settings):
    """An attacker who fills the cache until it evicts (or any flush) must not get a fresh allowance."""
    settings.PASSWORD_RESET_MAILS_PER_ADDRESS_PER_HOUR = 2
    for number in range(4):
        ask(client, "reporter@example.com", f"198.51.100.{number}")
        cache.clear()
    assert len(mail.outbox) == 2
