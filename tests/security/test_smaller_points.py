"""The smaller hardening points: each closes one way to misuse a page that worked before."""
from __future__ import annotations

import pytest
from django.core import mail
from django.core.exceptions import ValidationError
from django.core.signals import request_finished
from django.db import close_old_connections
from django.test import Client
from django.urls import reverse

from accounts.models import User
from incidents.models import Incident
from incidents.services import incident_update
from incidents.workflow import Status
from tests.factories import make_incident, make_user

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
