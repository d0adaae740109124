"""The smaller hardening points: each closes one way to misuse a page that worked before."""
from __future__ import annotations

import importlib
from datetime import datetime, timedelta

import pytest
from django.contrib.auth.hashers import Argon2PasswordHasher as DjangoArgon2PasswordHasher
from django.core import mail
from django.core.exceptions import ValidationError
from django.core.signals import request_finished
from django.db import close_old_connections
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.hashers import Argon2PasswordHasher
from accounts.models import TokenScope, User
from accounts.services import api_token_authenticate, api_token_create, password_set, second_factor_remove, user_save
from audit.models import Action, AuditLog
from incidents.models import Incident
from incidents.services import incident_create, incident_update
from incidents.workflow import Status
from tests.factories import make_incident, make_totp_device, make_user

pytestmark = pytest.mark.django_db


def test_a_workflow_post_without_a_version_is_refused_like_a_stale_page(responder_client, reporter, tally):
    incident = make_incident(reporter=reporter)
    response = responder_client.post(reverse("incidents:transition", args=[incident.pk, "start"]), {}, follow=True)
    assert "This incident changed since you loaded the page; nothing was done." in response.content.decode()
    assert Incident.objects.get().status == Status.OPEN
    for version in ("", "abc", "0"):
        responder_client.post(reverse("incidents:transition", args=[incident.pk, "start"]), {"version": version})
    assert Incident.objects.get().status == Status.OPEN
    tally("stale-write", "workflow without a version", 4)


def test_the_admin_can_assign_only_active_staff(admin_client, reporter, responder, tally):
    incident = make_incident(reporter=reporter)
    gone = make_user(username="gone", is_staff=True, is_active=False)
    for candidate in (reporter, gone):
        response = admin_client.post(reverse("admin:incidents_incident_change", args=[incident.pk]), {
            "title": incident.title, "description": incident.description, "severity": incident.severity,
            "status": incident.status, "reporter": reporter.pk, "assignee": candidate.pk,
            "comments-TOTAL_FORMS": 0, "comments-INITIAL_FORMS": 0,
        })
        assert response.status_code == 200, "the form is shown again with its error"
        assert "Select a valid choice" in response.content.decode()
    assert Incident.objects.get().assignee is None
    found = admin_client.get(reverse("admin:autocomplete"), {
        "app_label": "incidents", "model_name": "incident", "field_name": "assignee", "term": ""}).json()
    assert {int(result["id"]) for result in found["results"]} == {responder.pk, User.objects.get(username="admin").pk}
    with pytest.raises(ValidationError, match="Only an active responder"):
        incident_update(incident, actor=responder, expected_version=incident.version, assignee=reporter)
    tally("mass-assignment", "assignee who is not staff", 3)


def test_anonymous_readiness_answers_only_the_status(settings):
    settings.METRICS_TOKEN = "probe-token-0123456789"
    stranger = Client(REMOTE_ADDR="198.51.100.20")
    assert stranger.get("/readyz").json() == {"status": "ok"}
    detailed = stranger.get("/readyz", HTTP_AUTHORIZATION="Bearer probe-token-0123456789").json()
    assert detailed["database"] == "ok" and "version" in detailed
    assert stranger.get("/readyz", HTTP_AUTHORIZATION="Bearer wrong").json() == {"status": "ok"}
    assert "version" in Client(REMOTE_ADDR="127.0.0.1").get("/readyz").json(), "a probe on the machine itself"


def test_anonymous_readiness_of_a_broken_deployment_names_no_detail(settings, monkeypatch):
    monkeypatch.setattr("incident_tracker.health.unapplied_migrations", lambda: ["incidents.9999_future"])
    response = Client(REMOTE_ADDR="198.51.100.20").get("/readyz")
    assert (response.status_code, response.json()) == (503, {"status": "unavailable"})


def test_the_reset_mail_leaves_only_after_the_response(rf, reporter):
    from accounts.views import PasswordResetView

    for address, mails in (("reporter@example.com", 1), ("nobody@example.com", 0)):
        request = rf.post(reverse("accounts:password_reset"), {"email": address}, REMOTE_ADDR="192.0.2.9")
        request._dont_enforce_csrf_checks = True
        mail.outbox.clear()
        response = PasswordResetView.as_view()(request)
        assert response.status_code == 302 and mail.outbox == [], "the answer is the same, and nothing is sent yet"
        # As the test client does: the server's end-of-request signal would close the test's connection.
        request_finished.disconnect(close_old_connections)
        try:
            response.close()
        finally:
            request_finished.connect(close_old_connections)
        assert len(mail.outbox) == mails


@pytest.mark.parametrize(("name", "fields"), [
    ("accounts:backup_codes", {"password": "secret-password", "code": "123456"}),
    ("accounts:otp_remove", {"password": "secret-password", "code": "123456"}),
    ("accounts:password_change", {"old_password": "secret-password", "new_password1": "x", "new_password2": "x"}),
    ("accounts:enrol_confirm", {"code": "123456"}),
])
def test_views_that_take_a_password_or_code_hide_them_from_error_reports(name, fields, reporter, otp_client):
    response = otp_client(reporter).post(reverse(name), fields)
    assert set(fields) <= set(response.wsgi_request.sensitive_post_parameters)


# --- Second round ----------------------------------------------------------------------

def test_passwords_are_hashed_with_argon2_sized_for_a_small_instance():
    production = importlib.import_module("incident_tracker.settings")
    assert production.PASSWORD_HASHERS[0] == "accounts.hashers.Argon2PasswordHasher"
    hasher = Argon2PasswordHasher()
    encoded = hasher.encode("correct-horse-battery-staple", hasher.salt())
    assert "$m=19456,t=2,p=1$" in encoded
    older = DjangoArgon2PasswordHasher().encode("correct-horse-battery-staple", hasher.salt())
    assert hasher.verify("correct-horse-battery-staple", older) and hasher.must_update(older)


def test_a_description_longer_than_the_limit_is_refused_on_the_web(reporter_client, tally):
    response = reporter_client.post(reverse("incidents:create"), {
        "title": "Huge", "description": "<p>" + "x" * 60_000 + "</p>", "severity": 3,
        "submission_token": "6f1d7c52-2a51-4c1b-9a0e-6a3c8f0d2b30"})
    assert response.status_code == 200
    assert "Ensure this value has at most 50000 characters" in response.content.decode()
    with pytest.raises(ValidationError, match="A description may have at most 50,000 characters"):
        incident_create(reporter=User.objects.get(username="reporter"), title="Huge", description="y" * 60_000)
    assert not Incident.objects.exists()
    tally("abuse", "oversized descriptions", 2)


def in_a_month() -> datetime:
    return timezone.now() + timedelta(days=30)


def test_a_password_reset_and_a_second_factor_reset_revoke_api_tokens(reporter, admin_user):
    _, first = api_token_create(reporter, name="laptop", scope=TokenScope.READ_WRITE, expires_at=in_a_month(),
                                second_factor_verified=False)
    password_set(reporter, password="A-new-long-passphrase-42", action=Action.PASSWORD_RESET)
    assert api_token_authenticate(first) is None
    _, second = api_token_create(reporter, name="script", scope=TokenScope.READ, expires_at=in_a_month(),
                                 second_factor_verified=False)
    make_totp_device(user=reporter)
    second_factor_remove(reporter, actor=admin_user)
    assert api_token_authenticate(second) is None
    reasons = [row.changes["reason"] for row in AuditLog.objects.filter(action=Action.API_TOKEN_REVOKED)]
    assert sorted(reasons) == ["password reset", "two-factor sign-in reset by an administrator"]


def test_an_authenticator_enrolled_as_a_reporter_does_not_survive_promotion_to_staff(reporter, admin_user):
    make_totp_device(user=reporter)
    reporter.is_staff = True
    user_save(reporter, actor=admin_user)
    assert not TOTPDevice.objects.filter(user=reporter).exists()
    row = AuditLog.objects.get(action=Action.OTP_REMOVED)
    assert row.changes["reason"] == "promoted to staff: enrol again through an enrolment link"
