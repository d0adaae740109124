"""
Personal access tokens: made on the security page, shown once, kept only as a digest,
audited without their secret, and refused once revoked or expired.
"""
from __future__ import annotations

import hashlib
import logging
from datetime import timedelta

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.models import ApiToken, TokenScope
from accounts.services import api_token_create, api_token_revoke
from audit.models import Action, AuditLog
from tests.api.conftest import bearer_client, token_for
from tests.factories import make_incident

pytestmark = pytest.mark.django_db
CREATE = reverse("accounts:api_token_create")


def create_on_page(client: Client, **fields: object):
    return client.post(CREATE, {"name": "nightly report", "scope": "read", "expires_in_days": 30, **fields})


def test_reporter_creates_a_token_that_is_shown_once_and_stored_as_a_digest(reporter_client, reporter, caplog):
    caplog.set_level(logging.DEBUG)
    response = create_on_page(reporter_client)
    assert response.status_code == 200
    secret = response.context["new_api_token"]
    assert secret.startswith("itk_") and secret in response.content.decode()
    token = ApiToken.objects.get()
    assert token.digest == hashlib.sha256(secret.encode()).hexdigest() and secret not in token.prefix + token.digest
    assert (token.user, token.scope, token.name) == (reporter, TokenScope.READ, "nightly report")
    assert timedelta(days=29) < token.expires_at - timezone.now() <= timedelta(days=30)
    page = reporter_client.get(reverse("accounts:security")).content.decode()
    assert "nightly report" in page and token.prefix in page and secret not in page
    row = AuditLog.objects.get(action=Action.API_TOKEN_CREATED)
    assert row.changes["token"] == [None, "nightly report"] and secret not in str(row.content())
    assert secret not in caplog.text
    assert bearer_client(secret).get("/api/v1/me/").json()["id"] == reporter.pk


def test_invalid_token_form_shows_errors_and_creates_nothing(reporter_client):
    response = create_on_page(reporter_client, name="", scope="admin", expires_in_days=9999)
    assert response.status_code == 400
    assert set(response.context["api_token_form"].errors) == {"name", "scope", "expires_in_days"}
    assert not ApiToken.objects.exists()


def test_staff_need_a_verified_second_factor_to_create_a_token(responder, otp_client):
    unverified = Client()
    unverified.force_login(responder)
    assert create_on_page(unverified).status_code == 302
    assert not ApiToken.objects.exists()
    response = create_on_page(otp_client(responder))
    assert response.status_code == 200 and ApiToken.objects.filter(user=responder).count() == 1


def test_service_refuses_staff_without_second_factor(responder):
    with pytest.raises(ValidationError):
        api_token_create(responder, name="x", scope="read", expires_at=timezone.now() + timedelta(days=1),
                         second_factor_verified=False)
    assert not ApiToken.objects.exists()


def test_revoked_token_stops_working_and_revocation_is_audited(reporter_client, reporter):
    secret = token_for(reporter)
    token = ApiToken.objects.get()
    response = reporter_client.post(reverse("accounts:api_token_revoke", args=[token.pk]))
    assert response.status_code == 302
    assert bearer_client(secret).get("/api/v1/me/").status_code == 401
    assert AuditLog.objects.filter(action=Action.API_TOKEN_REVOKED, changes__token=["script", None]).count() == 1
    api_token_revoke(token, actor=reporter)
    assert AuditLog.objects.filter(action=Action.API_TOKEN_REVOKED).count() == 1


def test_nobody_revokes_someone_elses_token(other_client, reporter):
    token_for(reporter)
    token = ApiToken.objects.get()
    assert other_client.post(reverse("accounts:api_token_revoke", args=[token.pk])).status_code == 404
    token.refresh_from_db()
    assert token.revoked_at is None


def test_expired_token_and_deactivated_owner_are_refused(reporter):
    secret = token_for(reporter, days=1)
    with time_machine.travel(timezone.now() + timedelta(days=2)):
        assert bearer_client(secret).get("/api/v1/me/").status_code == 401
    reporter.is_active = False
    reporter.save()
    assert bearer_client(secret).get("/api/v1/me/").status_code == 401


def test_last_use_is_recorded_at_most_once_a_minute(reporter):
    secret = token_for(reporter)
    client = bearer_client(secret)
    client.get("/api/v1/me/")
    first = ApiToken.objects.get().last_used_at
    assert first is not None
    client.get("/api/v1/me/")
    assert ApiToken.objects.get().last_used_at == first
    with time_machine.travel(timezone.now() + timedelta(minutes=2)):
        client.get("/api/v1/me/")
        later = ApiToken.objects.get().last_used_at
    assert later is not None and later > first


def test_a_token_never_acts_beyond_its_owner(reporter, other_reporter):
    theirs = make_incident(reporter=other_reporter)
    client = bearer_client(token_for(reporter))
    assert client.get(f"/api/v1/incidents/{theirs.pk}/").status_code == 404
    assert client.get("/admin/").status_code == 302


def test_token_secret_is_not_in_the_admin_after_creation(admin_client, reporter):
    secret = token_for(reporter)
    page = admin_client.get(reverse("admin:accounts_user_change", args=[reporter.pk])).content.decode()
    assert secret not in page


def test_admin_lists_tokens_without_secrets_and_revokes_them(admin_client, reporter):
    secret = token_for(reporter)
    token = ApiToken.objects.get()
    page = admin_client.get(reverse("admin:accounts_apitoken_changelist")).content.decode()
    assert token.prefix in page and secret not in page
    response = admin_client.post(reverse("admin:accounts_apitoken_changelist"),
                                 {"action": "revoke", "_selected_action": [token.pk]})
    assert response.status_code == 302
    assert bearer_client(secret).get("/api/v1/me/").status_code == 401
    assert AuditLog.objects.get(action=Action.API_TOKEN_REVOKED).actor_username == "admin"


def test_tokens_never_reach_the_logs(reporter, caplog):
    caplog.set_level(logging.DEBUG)
    secret = token_for(reporter)
    bearer_client(secret).get("/api/v1/me/")
    bearer_client(secret + "x").get("/api/v1/me/?token=" + secret)
    assert caplog.records and secret not in caplog.text
