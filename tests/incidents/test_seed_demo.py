from __future__ import annotations

import re

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.models import User
from incidents.models import Category, Incident
from incidents.workflow import Status

pytestmark = pytest.mark.django_db


def test_demo_seed_creates_users_and_incidents_in_every_status(settings, capsys):
    settings.DEBUG = True
    call_command("seed", "--demo", "--demo-incidents", "8")
    assert set(User.objects.values_list("username", flat=True)) == {"reporter", "responder", "admin"}
    assert Category.objects.count() == 6
    assert Incident.objects.count() == 8
    assert set(Incident.objects.values_list("status", flat=True)) == set(Status.values)
    assert "reporter / demo-password-2026" in capsys.readouterr().out
    call_command("seed", "--demo", "--demo-incidents", "8")
    assert Incident.objects.count() == 8


def test_demo_seed_prints_an_enrolment_link_for_each_staff_account(settings, capsys, client):
    settings.DEBUG = True
    call_command("seed", "--demo", "--demo-incidents", "1")
    links = dict(re.findall(r"(\w+) / demo-password-2026\n\s+then open http://[^/]+(/accounts/security/enrol/[\w-]+/)",
                            capsys.readouterr().out))
    assert sorted(links) == ["admin", "responder"]
    client.post(reverse("accounts:login"), {"username": "responder", "password": "demo-password-2026"})
    assert client.post(links["responder"])["Location"] == reverse("accounts:security")
    assert TOTPDevice.objects.filter(user__username="responder", confirmed=False).exists()


def test_demo_seed_refuses_without_debug(settings):
    settings.DEBUG = False
    with pytest.raises(CommandError, match="Refusing to create demo users"):
        call_command("seed", "--demo")
    assert not User.objects.exists()
