"""
SQL injection: hostile values in every query parameter and form field. Nothing may
answer 500, show rows the user may not see, or change data it was not asked to.
"""
from __future__ import annotations

import re
import uuid
from typing import Any

import pytest
from django.contrib.auth import SESSION_KEY
from django.core import mail
from django.test import Client
from django.urls import reverse
from django.utils.html import escape

from accounts.models import User
from incidents.models import Comment, Incident
from tests.factories import make_category, make_incident, make_totp_device

from .payloads import SQL_INJECTION

pytestmark = pytest.mark.django_db

LIST_PARAMETERS = ("status", "severity", "category", "assignee", "q", "sort", "after", "before", "page",
                   "reporter", "reporter__password__startswith", "o", "ordering")
INCIDENT_ADMIN_PARAMETERS = ("q", "o", "p", "status__exact", "severity__exact", "category__id__exact",
                             "created_at__gte", "reporter__password__startswith", "e", "_changelist_filters")
ADMIN_CASES = [
    *(("admin:incidents_incident_changelist", parameter) for parameter in INCIDENT_ADMIN_PARAMETERS),
    *((changelist, parameter) for changelist in ("admin:accounts_user_changelist", "admin:audit_auditlog_changelist")
      for parameter in ("q", "o", "password__startswith")),
]
ROW = re.compile(r'<a href="/incidents/(\d+)/">')


@pytest.fixture
def incidents(reporter, other_reporter):
    make_category(name="Network")
    # Words no payload contains, so full-text search (PostgreSQL) cannot match them honestly.
    mine = [make_incident(reporter=reporter, title=title, description="<p>Printer jam</p>")
            for title in ("Printer jam", "Wifi flaky", "Badge reader broken")]
    theirs = [make_incident(reporter=other_reporter, title=title, description="<p>Printer jam</p>")
              for title in ("Laptop stolen", "Mail bouncing")]
    return mine, theirs


def snapshot() -> tuple[Any, ...]:
    return (list(Incident.objects.order_by("pk").values()), list(Comment.objects.values()),
            list(User.objects.order_by("pk").values("pk", "username", "password", "is_staff", "is_superuser")))


def rows_of(response) -> set[int]:
    return {int(pk) for pk in ROW.findall(response.content.decode())}


def assert_the_list_shrugs_off(client: Client, parameter: str, payload: str, *, unfiltered: set[int]) -> None:
    """
    What the list shows for one hostile value: a NUL is refused as a bad request; a search
    finds nothing, says so, and keeps the value in the search box as plain text; any other
    value is invalid or unknown and dropped, so the list shows exactly the unfiltered rows.
    """
    response = client.get(reverse("incidents:list"), {parameter: payload})
    where = (parameter, payload)
    if "\x00" in payload:
        assert response.status_code == 400, where
        return
    assert response.status_code == 200, where
    page = response.content.decode()
    if parameter == "q":
        assert rows_of(response) == set(), f"{payload!r} matched rows as if it were SQL"
        assert "No incidents match these filters" in page, where
        assert f'value="{escape(payload)}"' in page, where
        return
    assert rows_of(response) == unfiltered, where
    if parameter in ("after", "before"):
        assert "That page link is out of date; here is the first page." in page, where


@pytest.mark.parametrize("parameter", LIST_PARAMETERS)
def test_list_parameters_never_widen_what_a_reporter_sees(parameter, incidents, reporter_client, tally):
    mine, _ = incidents
    before = snapshot()
    unfiltered = rows_of(reporter_client.get(reverse("incidents:list")))
    assert unfiltered == {incident.pk for incident in mine}
    for payload in SQL_INJECTION:
        assert_the_list_shrugs_off(reporter_client, parameter, payload, unfiltered=unfiltered)
    assert snapshot() == before
    tally("sql-injection", "list parameters", len(SQL_INJECTION))


@pytest.mark.parametrize("parameter", LIST_PARAMETERS)
def test_list_parameters_are_harmless_for_responders_too(parameter, incidents, responder_client, tally):
    before = snapshot()
    unfiltered = rows_of(responder_client.get(reverse("incidents:list")))
    assert unfiltered == {incident.pk for group in incidents for incident in group}
    for payload in SQL_INJECTION:
        assert_the_list_shrugs_off(responder_client, parameter, payload, unfiltered=unfiltered)
    assert snapshot() == before
    tally("sql-injection", "list parameters", len(SQL_INJECTION))


@pytest.mark.parametrize("changelist,parameter", ADMIN_CASES)
def test_admin_changelist_parameters_never_fail(changelist, parameter, incidents, admin_client, tally):
    before = snapshot()
    for payload in SQL_INJECTION:
        response = admin_client.get(reverse(changelist), {parameter: payload})
        assert response.status_code in (200, 302, 400), (changelist, parameter, payload)
    assert snapshot() == before
    tally("sql-injection", "admin parameters", len(SQL_INJECTION))


def test_form_fields_store_payloads_as_plain_text(incidents, reporter, reporter_client, responder_client, tally):
    mine, theirs = incidents
    target = mine[0]
    for payload in SQL_INJECTION:
        before = Incident.objects.count()
        response = reporter_client.post(reverse("incidents:create"), {
            "title": "Valid title", "description": "body", "severity": payload, "category": payload,
            "submission_token": str(uuid.uuid4()),
        })
        assert response.status_code == 200 and Incident.objects.count() == before, payload
        reporter_client.post(reverse("incidents:create"), {
            "title": f"{payload} title", "description": f"{payload} body", "severity": 3,
            "submission_token": str(uuid.uuid4()),
        })
        assert Incident.objects.count() - before == (0 if "\x00" in payload else 1), payload
        reporter_client.post(reverse("incidents:comment", args=[target.pk]), {"body": f"{payload} comment"})
        target.refresh_from_db()
        responder_client.post(reverse("incidents:edit", args=[target.pk]), {
            "title": f"{payload} edited", "description": "x", "severity": payload, "assignee": payload,
            "version": payload,
        })
    # Every row still belongs to whom it did, and nothing of another reporter's changed.
    for incident in theirs:
        fresh = Incident.objects.get(pk=incident.pk)
        assert (fresh.title, fresh.reporter_id, fresh.version) == (incident.title, incident.reporter_id, 1)
    assert Incident.objects.filter(title="' OR 1=1 -- title", reporter=reporter).exists()
    assert Comment.objects.filter(body__contains="DROP TABLE").count() == 1
    tally("sql-injection", "form fields", len(SQL_INJECTION) * 7)


def test_sign_in_and_reset_fields_reject_payloads(incidents, client, reporter, tally):
    make_totp_device(user=reporter)
    for payload in SQL_INJECTION:
        response = client.post(reverse("accounts:login"), {"username": payload, "password": payload})
        assert response.status_code in (200, 429), payload
        assert SESSION_KEY not in client.session
        response = client.post(reverse("accounts:login"), {"username": "reporter", "password": payload})
        assert response.status_code in (200, 429), payload
        assert client.post(reverse("accounts:password_reset"), {"email": payload}).status_code in (200, 302, 429)
        assert client.post(reverse("accounts:login_code"), {"code": payload})["Location"] == reverse("accounts:login")
    assert SESSION_KEY not in client.session
    assert mail.outbox == [], "no payload may pass for an address a reset link is sent to"
    tally("sql-injection", "sign-in fields", len(SQL_INJECTION) * 5)


def test_code_fields_reject_payloads(reporter, otp_client, tally):
    client = otp_client(reporter)
    for payload in SQL_INJECTION:
        for name in ("backup_codes", "otp_remove"):
            response = client.post(reverse(f"accounts:{name}"), {"password": payload, "code": payload})
            assert response.status_code == 400, payload
    assert client.get(reverse("dashboard")).status_code == 200
    tally("sql-injection", "code fields", len(SQL_INJECTION) * 4)


@pytest.mark.parametrize("url", ["/incidents/", "/admin/incidents/incident/", "/accounts/login/"])
def test_nul_characters_in_query_parameters_are_a_bad_request(url, admin_client):
    for query in ({"status__exact": "\x00"}, {"q": "printer\x00"}, {"\x00": "x"}):
        response = admin_client.get(url, query)
        assert response.status_code == 400, (url, query)
