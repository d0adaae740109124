"""`manage.py seed`: reference data any time, demo data only where it cannot leak into production."""
from __future__ import annotations

from io import StringIO

import pytest
from django.contrib.auth.models import Group
from django.core.management import CommandError, call_command
from django.test import Client
from django.urls import reverse

from accounts.models import User
from audit.models import Action, AuditLog
from incidents.management.commands.seed import CATEGORIES, DEMO_PASSWORD, RESPONDERS_GROUP
from incidents.models import Category, Comment, Incident
from incidents.workflow import Status
from tests.factories import make_category

pytestmark = pytest.mark.django_db


def seed(*args: str) -> str:
    out = StringIO()
    call_command("seed", *args, stdout=out)
    return out.getvalue()


def test_seed_creates_the_categories_and_the_responders_group_once():
    output = seed()
    seed()
    assert sorted(Category.objects.values_list("name", flat=True)) == sorted(CATEGORIES)
    group = Group.objects.get(name=RESPONDERS_GROUP)
    assert set(group.permissions.values_list("codename", flat=True)) == {
        "view_incident", "change_incident", "view_comment", "view_category", "view_attachment", "add_attachment",
        "delete_attachment", "view_subscription", "add_subscription", "change_subscription", "delete_subscription",
        "view_delivery"}
    assert f"Reference data ready: {len(CATEGORIES)} categories" in output
    assert not User.objects.exists()


def test_seed_records_its_categories_in_the_audit_log_as_the_system():
    seed()
    entries = AuditLog.objects.filter(action=Action.CATEGORY_CREATED)
    assert entries.count() == len(CATEGORIES)
    assert not entries.exclude(actor_username="").exists()


def test_seed_keeps_a_category_an_administrator_renamed_by_case():
    make_category(name="NETWORK", description="Ours")
    seed()
    assert Category.objects.filter(name__iexact="network").get().description == "Ours"


def test_seed_demo_is_refused_with_debug_off(settings):
    settings.DEBUG = False
    with pytest.raises(CommandError, match="Refusing to create demo users with known passwords while DEBUG is off"):
        seed("--demo")
    assert not User.objects.exists()
    assert not Category.objects.exists()


def test_seed_demo_creates_users_and_incidents_in_every_status_and_prints_the_sign_ins(settings):
    settings.DEBUG = True
    output = seed("--demo")
    assert {user.username: (user.is_staff, user.is_superuser) for user in User.objects.all()} == {
        "reporter": (False, False), "responder": (True, False), "admin": (True, True)}
    assert all(user.check_password(DEMO_PASSWORD) for user in User.objects.all())
    assert User.objects.get(username="responder").groups.filter(name=RESPONDERS_GROUP).exists()
    assert Incident.objects.count() == 36
    assert set(Incident.objects.values_list("status", flat=True)) == set(Status.values)
    assert Incident.objects.filter(reporter__username="reporter").exists()
    assert Comment.objects.exists()
    for line in (f"reporter       reporter / {DEMO_PASSWORD}", f"responder      responder / {DEMO_PASSWORD}",
                 f"administrator  admin / {DEMO_PASSWORD}"):
        assert line in output


def test_seed_demo_twice_changes_nothing_the_second_time(settings):
    settings.DEBUG = True
    seed("--demo")
    # Each run prints a fresh enrolment link per staff account that has no device yet, which is audited.
    audit = AuditLog.objects.exclude(action=Action.OTP_ENROLMENT_LINK_ISSUED)
    counts = (User.objects.count(), Incident.objects.count(), Comment.objects.count(), audit.count())
    output = seed("--demo")
    assert (User.objects.count(), Incident.objects.count(), Comment.objects.count(), audit.count()) == counts
    assert "reporter / " in output


def test_seed_demo_is_allowed_with_debug_off_when_forced(settings):
    settings.DEBUG = False
    seed("--demo", "--force", "--demo-incidents", "4")
    assert Incident.objects.count() == 4


def test_demo_users_keep_a_password_changed_after_seeding(settings):
    settings.DEBUG = True
    seed("--demo", "--demo-incidents", "0")
    reporter = User.objects.get(username="reporter")
    reporter.set_password("a-new-long-password-2026")
    reporter.save()
    seed("--demo")
    reporter.refresh_from_db()
    assert reporter.check_password("a-new-long-password-2026")


def test_the_printed_demo_reporter_can_sign_in_and_sees_their_incidents(settings):
    settings.DEBUG = True
    seed("--demo")
    client = Client()
    response = client.post(reverse("accounts:login"), {"username": "reporter", "password": DEMO_PASSWORD})
    assert response.status_code == 302
    listing = client.get(reverse("incidents:list"))
    assert listing.status_code == 200
    assert listing.context["total"] == Incident.objects.filter(reporter__username="reporter").count()


def test_seed_demo_mails_nobody(settings, mailoutbox, django_capture_on_commit_callbacks):
    settings.DEBUG = True
    with django_capture_on_commit_callbacks(execute=True):
        seed("--demo")
    assert mailoutbox == []
