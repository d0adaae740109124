"""Every state-changing request without a CSRF token is refused and changes nothing."""
from __future__ import annotations

import re
from typing import Any, Callable

import pytest
from django.contrib.auth import SESSION_KEY
from django.core import mail
from django.test import Client
from django.urls import reverse
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.models import BackupCode, User
from accounts.services import enrolment_link_issue
from audit.models import AuditLog
from incidents.models import Category, Comment, Incident
from tests.conftest import signed_in, signed_in_verified
from tests.factories import DEFAULT_PASSWORD, make_backup_codes, make_incident, make_totp_device, make_user, totp_code

pytestmark = pytest.mark.django_db


def without_token(client: Client) -> Client:
    """The same browser session, but a client that checks CSRF like a real server does."""
    strict = Client(enforce_csrf_checks=True)
    strict.cookies = client.cookies
    return strict


def state() -> tuple[Any, ...]:
    return (
        list(Incident.objects.values()), list(Comment.objects.values()), list(Category.objects.values()),
        list(User.objects.values()),
        TOTPDevice.objects.count(), BackupCode.objects.count(), len(mail.outbox),
    )


@pytest.fixture
def people(db) -> dict[str, User]:
    reporter = make_user(username="reporter")
    make_totp_device(user=reporter)
    make_backup_codes(user=reporter)
    return {
        "reporter": reporter,
        "responder": make_user(username="responder", is_staff=True),
        "admin": make_user(username="admin", is_staff=True, is_superuser=True),
    }


def half_signed_in(user: User) -> Client:
    client = Client()
    client.post(reverse("accounts:login"), {"username": user.username, "password": DEFAULT_PASSWORD})
    return client


def reset_link_client(user: User) -> tuple[Client, str]:
    client = Client()
    client.post(reverse("accounts:password_reset"), {"email": user.email})
    match = re.search(r"https?://[^/]+(/accounts/password-reset/\S+/)", str(mail.outbox[-1].body))
    assert match
    return client, client.get(match.group(1))["Location"]


Case = Callable[[dict[str, User]], tuple[Client, str, dict[str, Any]]]
CASES: dict[str, Case] = {
    "sign-in": lambda p: (Client(), reverse("accounts:login"), {"username": "reporter", "password": DEFAULT_PASSWORD}),
    "sign-in code": lambda p: (half_signed_in(p["reporter"]), reverse("accounts:login_code"),
                               {"code": totp_code(TOTPDevice.objects.get(user=p["reporter"]))}),
    "sign-out": lambda p: (signed_in_verified(p["reporter"]), reverse("accounts:logout"), {}),
    "enrol start": lambda p: (signed_in(p["responder"]), reverse("accounts:enrol_start"), {}),
    "enrol confirm": lambda p: (signed_in(p["responder"]), reverse("accounts:enrol_confirm"), {"code": "123456"}),
    "enrolment link request": lambda p: (signed_in(p["responder"]), reverse("accounts:enrol_link_request"), {}),
    "enrolment link": lambda p: (signed_in(p["responder"]), reverse("accounts:enrol_link", kwargs={
        "token": enrolment_link_issue(p["responder"], actor=None)}), {}),
    "backup codes": lambda p: (signed_in_verified(p["reporter"]), reverse("accounts:backup_codes"),
                               {"password": DEFAULT_PASSWORD, "code": "backup01"}),
    "remove device": lambda p: (signed_in_verified(p["reporter"]), reverse("accounts:otp_remove"),
                                {"password": DEFAULT_PASSWORD, "code": "backup01"}),
    "password change": lambda p: (signed_in_verified(p["reporter"]), reverse("accounts:password_change"),
                                  {"old_password": DEFAULT_PASSWORD, "new_password1": "another-long-passphrase-9",
                                   "new_password2": "another-long-passphrase-9"}),
    "password reset": lambda p: (Client(), reverse("accounts:password_reset"), {"email": "reporter@example.com"}),
    "password reset confirm": lambda p: (*reset_link_client(p["reporter"]),
                                         {"new_password1": "another-long-passphrase-9",
                                          "new_password2": "another-long-passphrase-9"}),
    "report incident": lambda p: (signed_in_verified(p["reporter"]), reverse("incidents:create"),
                                  {"title": "x", "description": "y", "severity": 3}),
    "edit incident": lambda p: (signed_in_verified(p["reporter"]),
                                reverse("incidents:edit", args=[Incident.objects.get().pk]),
                                {"title": "changed", "description": "changed", "severity": 1, "version": 1}),
    "comment": lambda p: (signed_in_verified(p["reporter"]),
                          reverse("incidents:comment", args=[Incident.objects.get().pk]), {"body": "hello"}),
    "transition": lambda p: (signed_in_verified(p["responder"]),
                             reverse("incidents:transition", args=[Incident.objects.get().pk, "start"]), {"version": 1}),
    "take incident": lambda p: (signed_in_verified(p["responder"]),
                                reverse("incidents:take", args=[Incident.objects.get().pk]), {"version": 1}),
    "preferences": lambda p: (signed_in_verified(p["reporter"]), reverse("accounts:preferences"),
                              {"time_zone": "Europe/Paris", "notify_status": "on"}),
    "admin add category": lambda p: (signed_in_verified(p["admin"]), reverse("admin:incidents_category_add"),
                                     {"name": "Printers", "is_active": "on"}),
    "admin reset 2FA": lambda p: (signed_in_verified(p["admin"]), reverse("admin:accounts_user_changelist"),
                                  {"action": "reset_second_factor", "_selected_action": [p["reporter"].pk]}),
    "admin logout": lambda p: (signed_in_verified(p["admin"]), reverse("admin:logout"), {}),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_state_changing_request_without_csrf_token_is_refused(case, people, tally):
    make_incident(reporter=people["reporter"])
    client, url, data = CASES[case](people)
    signed_in_before = client.session.get(SESSION_KEY)
    before, audit_rows = state(), AuditLog.objects.count()
    response = without_token(client).post(url, data)
    assert response.status_code == 403, f"{case}: {response.status_code}"
    assert "CSRF" in response.content.decode() or "cross-site" in response.content.decode().lower()
    assert state() == before, case
    assert AuditLog.objects.count() == audit_rows, case
    assert client.session.get(SESSION_KEY) == signed_in_before, case
    tally("csrf", "state-changing views", 1)


def test_the_same_request_with_the_token_goes_through(people):
    client = Client(enforce_csrf_checks=True)
    page = client.get(reverse("accounts:login"))
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.content.decode())
    assert token
    data = {"username": "reporter", "password": DEFAULT_PASSWORD, "csrfmiddlewaretoken": token.group(1)}
    response = client.post(reverse("accounts:login"), data)
    assert response.status_code == 302 and response["Location"] == reverse("accounts:login_code")
