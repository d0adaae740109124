"""
Stored XSS: every family of the corpus goes in through each field a user can write and
must come out inert, both in the database and on every page that shows it.
"""
from __future__ import annotations

import csv
import io
import re
import uuid

import pytest
from django.test import Client
from django.urls import reverse
from django.utils.html import escape

from accounts.models import User
from incidents.models import Category, Comment, Incident

from .checks import page_problems, stored_problems
from .payloads import CSV_FORMULAS, XSS

pytestmark = pytest.mark.django_db

FAMILIES = sorted(XSS)
TAG = re.compile(r"<[a-zA-Z/!?][^<>]*>")


def assert_page_inert(client: Client, url: str, payloads: list[str]) -> str:
    response = client.get(url)
    assert response.status_code == 200, url
    html = response.content.decode()
    assert page_problems(html) == [], url
    for payload in payloads:
        if "<" in payload:
            assert payload not in html, f"{url} shows {payload!r} unescaped"
    return html


FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def assert_csv_inert(client: Client, rows: int) -> None:
    """The export is opened in spreadsheets: no cell may start a formula, and every incident is there."""
    response = client.get(reverse("incidents:export"))
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    table = list(csv.reader(io.StringIO(response.getvalue().decode("utf-8-sig"))))
    assert len(table) == rows + 1
    for row in table[1:]:
        for cell in row:
            assert not cell.startswith(FORMULA_START), cell


def report(client: Client, payload: str, marker: int) -> Incident | None:
    response = client.post(reverse("incidents:create"), {
        "title": f"{payload} #{marker}", "description": f"<p>Seen:</p>{payload}", "severity": 3,
        "submission_token": str(uuid.uuid4()),
    })
    assert response.status_code in (200, 302), payload
    incident = Incident.objects.filter(title__endswith=f"#{marker}").first()
    if incident is None:
        # Refused (a NUL character, say): the reporter is told why.
        assert response.status_code == 200 and "error-summary" in response.content.decode(), payload
    return incident


@pytest.mark.parametrize("family", FAMILIES)
def test_incident_fields_and_comments_store_and_render_nothing_executable(
    family, tally, reporter, reporter_client, responder, responder_client, admin_client,
):
    payloads = XSS[family]
    incidents = []
    for marker, payload in enumerate(payloads):
        incident = report(reporter_client, payload, marker)
        if incident is None:
            continue
        incidents.append(incident)
        reporter_client.post(reverse("incidents:comment", args=[incident.pk]), {"body": payload})
        responder_client.post(reverse("incidents:comment", args=[incident.pk]), {"body": payload, "internal": "on"})

    for incident in Incident.objects.all():
        assert stored_problems(incident.title) == [] and not TAG.search(incident.title), incident.title
        assert stored_problems(incident.description) == [], incident.description
    for body in Comment.objects.values_list("body", flat=True):
        assert stored_problems(body) == [], body

    shown = [escape(incident.title) for incident in incidents]
    for client in (reporter_client, responder_client):
        listing = assert_page_inert(client, reverse("incidents:list"), payloads)
        assert all(title in listing for title in shown if "#" in title)
        assert_page_inert(client, reverse("dashboard"), payloads)
    for incident in incidents:
        assert_page_inert(reporter_client, reverse("incidents:detail", args=[incident.pk]), payloads)
        assert_page_inert(responder_client, reverse("incidents:detail", args=[incident.pk]), payloads)
        assert_page_inert(responder_client, reverse("incidents:edit", args=[incident.pk]), payloads)
        assert_page_inert(admin_client, reverse("admin:incidents_incident_change", args=[incident.pk]), payloads)
    assert_page_inert(admin_client, reverse("admin:incidents_incident_changelist"), payloads)
    assert_page_inert(admin_client, reverse("admin:incidents_comment_changelist"), payloads)
    assert_csv_inert(responder_client, len(incidents))
    assert_page_inert(admin_client, reverse("admin:audit_auditlog_changelist"), payloads)
    tally("xss/incidents", family, len(payloads) * 4)


@pytest.mark.parametrize("family", FAMILIES)
def test_editing_with_payloads_stores_nothing_executable(family, tally, reporter, responder_client):
    incident = Incident.objects.create(reporter=reporter, title="Printer jam", description="<p>Tray 2</p>")
    for payload in XSS[family]:
        incident.refresh_from_db()
        response = responder_client.post(reverse("incidents:edit", args=[incident.pk]), {
            "title": f"{payload} edited", "description": f"{payload} seen", "severity": 2, "version": incident.version,
        })
        assert response.status_code in (200, 302), payload
        incident.refresh_from_db()
        assert stored_problems(incident.title) == [] and stored_problems(incident.description) == [], payload
    tally("xss/edit", family, len(XSS[family]) * 2)


@pytest.mark.parametrize("family", FAMILIES)
def test_category_names_written_in_the_admin_are_plain_text(family, tally, admin_client, reporter_client, reporter):
    for marker, payload in enumerate(XSS[family]):
        response = admin_client.post(reverse("admin:incidents_category_add"), {
            "name": f"{payload} #{marker}", "description": payload, "is_active": "on",
        })
        assert response.status_code in (200, 302), payload
        if response.status_code == 200:
            assert "errornote" in response.content.decode(), payload
    categories = list(Category.objects.all())
    for category in categories:
        assert stored_problems(category.name) == [] and stored_problems(category.description) == [], category.name
        incident = Incident.objects.create(reporter=reporter, title="Categorised", description="x", category=category)
    assert_page_inert(admin_client, reverse("admin:incidents_category_changelist"), XSS[family])
    assert_page_inert(reporter_client, reverse("incidents:list"), XSS[family])
    assert_page_inert(reporter_client, reverse("incidents:create"), XSS[family])
    assert_page_inert(reporter_client, reverse("incidents:detail", args=[incident.pk]), XSS[family])
    tally("xss/category", family, len(XSS[family]) * 2)


def user_change_data(user: User, **changes: str) -> dict[str, str]:
    """What the admin's user change form posts for `user` with `changes` typed in."""
    data = {
        "username": user.username, "first_name": user.first_name, "last_name": user.last_name, "email": user.email,
        "is_active": "on", "date_joined_0": user.date_joined.strftime("%Y-%m-%d"),
        "date_joined_1": user.date_joined.strftime("%H:%M:%S"), "initial-date_joined_0": "", "initial-date_joined_1": "",
    }
    if user.is_staff:
        data["is_staff"] = "on"
    data.update(changes)
    return data


@pytest.mark.parametrize("family", FAMILIES)
def test_user_names_written_in_the_admin_are_plain_text(family, tally, admin_client, reporter, reporter_client,
                                                        responder):
    incident = Incident.objects.create(reporter=reporter, title="Names", description="x", assignee=responder)
    Comment.objects.create(incident=incident, author=reporter, body="<p>hello</p>")
    for payload in XSS[family]:
        response = admin_client.post(reverse("admin:accounts_user_change", args=[reporter.pk]),
                                     user_change_data(reporter, first_name=payload[:150], last_name=payload[:150]))
        if response.status_code == 200:
            assert "errornote" in response.content.decode(), payload
            continue
        assert response.status_code == 302, payload
        reporter.refresh_from_db()
        assert stored_problems(reporter.first_name) == [] and stored_problems(reporter.last_name) == [], payload
        assert_page_inert(reporter_client, reverse("incidents:detail", args=[incident.pk]), [payload])
    assert_page_inert(admin_client, reverse("admin:accounts_user_changelist"), XSS[family])
    assert_page_inert(admin_client, reverse("admin:incidents_incident_changelist"), XSS[family])
    tally("xss/user-names", family, len(XSS[family]) * 2)


def test_text_that_is_only_markup_is_refused_with_a_clear_message(reporter_client):
    response = reporter_client.post(reverse("incidents:create"), {
        "title": "<svg onload=alert(1)>", "description": "<script>alert(1)</script>", "severity": 3,
        "submission_token": str(uuid.uuid4()),
    })
    assert response.status_code == 200
    assert "This field cannot be blank." in response.content.decode()
    assert not Incident.objects.exists()


def test_csv_export_never_starts_a_formula(reporter_client, responder_client, tally):
    for marker, payload in enumerate(CSV_FORMULAS):
        reporter_client.post(reverse("incidents:create"), {
            "title": payload, "description": f"{payload} #{marker}", "severity": 3,
            "submission_token": str(uuid.uuid4()),
        })
    assert Incident.objects.count() == len(CSV_FORMULAS)
    assert_csv_inert(responder_client, len(CSV_FORMULAS))
    tally("csv-injection", "formulas", len(CSV_FORMULAS))
