"""
Paging spam: a reporter filing major incidents one after another. Each is filed; the
responders' mail is budgeted per reporter, and the reports themselves per hour.
"""
from __future__ import annotations

from collections import Counter

import pytest
from django.core import mail
from django.core.cache import cache
from django.urls import reverse

from incidents.models import Incident, Severity
from incidents.notifications import MAJOR_MAILS_PER_REPORTER
from incidents.services import incident_create, incident_update
from tests.api.conftest import bearer_client, token_for
from tests.factories import make_incident, make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def responders(responder, admin_user):
    return [responder, admin_user, make_user(username="oncall", is_staff=True, email="oncall@example.com")]


def test_twenty_sev1_reports_by_one_reporter_mail_each_responder_three_times_and_one_digest(
    reporter, responders, django_capture_on_commit_callbacks, tally
):
    for number in range(20):
        with django_capture_on_commit_callbacks(execute=True):
            incident_create(reporter=reporter, title=f"Everything is down {number}", description="Really",
                            severity=Severity.SEV1)
        cache.clear()  # an attacker who can evict cache keys gains nothing: the counts are in the database
    assert Incident.objects.filter(reporter=reporter).count() == 20, "every report is filed"
    per_responder = Counter(message.to[0] for message in mail.outbox)
    assert per_responder == {person.email: MAJOR_MAILS_PER_REPORTER + 1 for person in responders}
    digests = [message for message in mail.outbox if "Major incidents from one reporter" in message.subject]
    assert len(digests) == len(responders)
    assert f"more than {MAJOR_MAILS_PER_REPORTER} major incidents within an hour" in str(digests[0].body)
    assert "/incidents/?severity=1" in str(digests[0].body)
    tally("abuse", "major-incident reports by one reporter", 20)


def test_a_reporter_raising_incidents_to_sev1_shares_the_same_budget(reporter, responders,
                                                                     django_capture_on_commit_callbacks):
    for number in range(6):
        incident = make_incident(reporter=reporter, severity=Severity.SEV4)
        with django_capture_on_commit_callbacks(execute=True):
            incident_update(incident, actor=reporter, expected_version=incident.version, severity=Severity.SEV1)
    assert Counter(message.to[0] for message in mail.outbox)["responder@example.com"] == MAJOR_MAILS_PER_REPORTER + 1


def test_responders_are_not_budgeted(responder, admin_user, django_capture_on_commit_callbacks):
    for number in range(5):
        with django_capture_on_commit_callbacks(execute=True):
            incident_create(reporter=responder, title=f"Core down {number}", description="x", severity=Severity.SEV1)
    assert [message.to for message in mail.outbox] == [["admin@example.com"]] * 5


def test_reports_past_the_hourly_limit_are_refused_on_the_web_and_in_the_api(reporter, reporter_client, settings):
    settings.INCIDENT_REPORTS_PER_HOUR = 2
    form = {"title": "Printer", "severity": 4, "description": "Jammed"}
    for number in range(2):
        response = reporter_client.post(reverse("incidents:create"),
                                        {**form, "title": f"Printer {number}",
                                         "submission_token": f"6f1d7c52-2a51-4c1b-9a0e-6a3c8f0d2b1{number}"})
        assert response.status_code == 302
    last_token = "6f1d7c52-2a51-4c1b-9a0e-6a3c8f0d2b19"
    refused = reporter_client.post(reverse("incidents:create"), {**form, "submission_token": last_token})
    assert refused.status_code == 429
    assert "You have reported 2 incidents within an hour" in refused.content.decode()
    api = bearer_client(token_for(reporter)).post(
        "/api/v1/incidents/", {"title": "Printer", "description": "Jammed"}, content_type="application/json")
    assert api.status_code == 429 and "Retry-After" in api.headers
    assert "You have reported 2 incidents within an hour" in api.json()["detail"]
    assert Incident.objects.count() == 2
