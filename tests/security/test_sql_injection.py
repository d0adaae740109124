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
from incidents.services import comment_add, incident_update
from tests.factories import make_category, make_incident, make_totp_device

from .payloads import SQL_INJECTION

pytestmark = pytest.mark.django_db

LIST_PARAMETERS = ("status", "severity", "category", "assignee", "q", "sort", "after", "before", "page",
                   "reporter", "reporter__password__startswith", "o", "ordering")
# What each admin list parameter may do with a hostile value: select no row ("none"),
# leave the list as it is ("all"; ordering, page and the error flag fall back to their
# defaults), or send the administrator back to the list with Django's error flag (a
# value the column cannot hold). Nothing else, and never a 500.
ADMIN_PARAMETERS = {
    "admin:incidents_incident_changelist": {
        "q": "none", "o": "all", "p": "all", "e": "all", "status__exact": "none", "severity__exact": "none",
        "category__id__exact": "none", "created_at__gte": "none", "_changelist_filters": "none",
    },
    "admin:incidents_comment_changelist": {"q": "none", "o": "all", "internal__exact": "none"},
    "admin:accounts_user_changelist": {"q": "none", "o": "all", "is_staff__exact": "none"},
    "admin:audit_auditlog_changelist": {"q": "none", "o": "all", "action__exact": "none", "password__startswith": "none"},
}
ADMIN_CASES = [(changelist, parameter) for changelist, parameters in ADMIN_PARAMETERS.items() for parameter in parameters]
# Lookups through a column the admin does not filter on, which would read a password
# hash a character at a time: refused outright (Django's DisallowedModelAdminLookup).
REFUSED_ADMIN_LOOKUPS = [
    ("admin:incidents_incident_changelist", "reporter__password__startswith"),
    ("admin:incidents_incident_changelist", "assignee__password__startswith"),
    ("admin:incidents_comment_changelist", "author__password__startswith"),
    ("admin:accounts_user_changelist", "password__startswith"),
    ("admin:accounts_user_changelist", "groups__user__password__startswith"),
]
ROW = re.compile(r'<a href="/incidents/(\d+)/">')
ADMIN_ROW = re.compile(r'href="(/admin/\w+/\w+/\d+/change/)')


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


def admin_rows(client: Client, changelist: str, query: dict[str, str]) -> tuple[int, set[str]]:
    """The status, and the change links of the rows the changelist shows."""
    response = client.get(reverse(changelist), query)
    if response.status_code == 302:
        assert response["Location"] == f"{reverse(changelist)}?e=1", (changelist, query)
    return response.status_code, set(ADMIN_ROW.findall(response.content.decode()))


@pytest.fixture
def admin_data(incidents, admin_user, responder):
    """Rows in every admin list: incidents, a comment, users, and audit rows of real changes."""
    mine, _ = incidents
    comment_add(mine[0], author=responder, body="Printer jam cleared")
    incident_update(mine[1], actor=admin_user, expected_version=1, title="Wifi flaky in the lab")


@pytest.mark.parametrize("changelist,parameter", ADMIN_CASES)
def test_admin_changelist_parameters_select_nothing_or_fall_back(changelist, parameter, admin_data, admin_client, tally):
    before = snapshot()
    status, everything = admin_rows(admin_client, changelist, {})
    assert status == 200 and everything, changelist
    expected = everything if ADMIN_PARAMETERS[changelist][parameter] == "all" else set()
    for payload in SQL_INJECTION:
        status, shown = admin_rows(admin_client, changelist, {parameter: payload})
        if "\x00" in payload:
            assert status == 400, (changelist, parameter)
        elif status == 200:
            assert shown == expected, (changelist, parameter, payload)
        else:
            assert status == 302, (changelist, parameter, payload)
    assert snapshot() == before
    tally("sql-injection", "admin parameters", len(SQL_INJECTION))


@pytest.mark.parametrize("changelist,lookup", REFUSED_ADMIN_LOOKUPS)
def test_admin_refuses_lookups_through_passwords(changelist, lookup, admin_data, admin_client, reporter, tally):
    payloads = ["", "a", "argon2", reporter.password[:12], *SQL_INJECTION]
    for payload in payloads:
        response = admin_client.get(reverse(changelist), {lookup: payload})
        assert response.status_code == 400, (changelist, lookup, payload)
        page = response.content.decode()
        assert not ADMIN_ROW.findall(page), (changelist, lookup, payload)
        assert reporter.password not in page and "reporter@example.com" not in page
    tally("sql-injection", "admin parameters", len(payloads))


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
