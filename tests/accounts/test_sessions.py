from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.contrib.auth import SESSION_KEY
from django.urls import reverse
from django.utils import timezone

pytestmark = pytest.mark.django_db

DASHBOARD = reverse("dashboard")


def test_signed_in_pages_are_private_and_never_stored(reporter_client):
    response = reporter_client.get(DASHBOARD)
    directives = {part.strip() for part in response["Cache-Control"].split(",")}
    assert {"private", "no-store"} <= directives
    assert "public" not in directives


def test_idle_session_ends(reporter_client, settings):
    settings.SESSION_IDLE_TIMEOUT = 600
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        assert reporter_client.get(DASHBOARD).status_code == 200
    with time_machine.travel(start + timedelta(seconds=500), tick=False):
        assert reporter_client.get(DASHBOARD).status_code == 200
    with time_machine.travel(start + timedelta(seconds=1000), tick=False):
        assert reporter_client.get(DASHBOARD).status_code == 200, "activity 500 s ago kept it alive"
    with time_machine.travel(start + timedelta(seconds=1700), tick=False):
        response = reporter_client.get(DASHBOARD)
    assert response.status_code == 302
    assert response["Location"] == f"{reverse('accounts:login')}?next={DASHBOARD}"
    assert SESSION_KEY not in reporter_client.session


def test_session_ends_after_its_absolute_lifetime_even_when_busy(reporter_client, settings):
    settings.SESSION_IDLE_TIMEOUT = 600
    settings.SESSION_ABSOLUTE_LIFETIME = 1800
    start = timezone.now()
    for minutes in range(0, 30, 5):
        with time_machine.travel(start + timedelta(minutes=minutes), tick=False):
            assert reporter_client.get(DASHBOARD).status_code == 200
    with time_machine.travel(start + timedelta(minutes=31), tick=False):
        assert reporter_client.get(DASHBOARD).status_code == 302
    assert SESSION_KEY not in reporter_client.session
