from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

import pytest
from django.urls import reverse

from audit.models import Action, AuditLog
from incidents.models import Severity
from incidents.workflow import Status
from tests.factories import make_category, make_incident

pytestmark = pytest.mark.django_db

EXPORT = reverse("incidents:export")


def download(client, query: str = "") -> tuple[object, list[dict[str, str]]]:
    response = client.get(f"{EXPORT}?{query}")
    text = b"".join(response.streaming_content).decode("utf-8-sig")
    return response, list(csv.DictReader(io.StringIO(text)))


def test_export_streams_a_csv_attachment(responder_client, reporter):
    make_incident(reporter=reporter)
    response = responder_client.get(EXPORT)
    assert response.status_code == 200
    assert response.streaming
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith('attachment; filename="incidents-')


def test_formula_titles_open_as_text(responder_client, reporter):
    make_incident(reporter=reporter, title='=HYPERLINK("http://evil.example","Open me")')
    make_incident(reporter=reporter, title="@SUM(1+1)*cmd|' /C calc'!A0")
    _, rows = download(responder_client)
    assert [row["Title"] for row in rows] == ["'@SUM(1+1)*cmd|' /C calc'!A0", '\'=HYPERLINK("http://evil.example","Open me")']


def test_export_matches_the_filtered_list(responder_client, reporter, responder):
    network = make_category(name="Network")
    wanted = [
        make_incident(reporter=reporter, title="VPN down", severity=Severity.SEV1, category=network),
        make_incident(reporter=reporter, title="VPN slow", severity=Severity.SEV1, category=network, assignee=responder),
    ]
    make_incident(reporter=reporter, title="VPN flaky", severity=Severity.SEV3, category=network)
    make_incident(reporter=reporter, title="VPN gone", severity=Severity.SEV1, status=Status.CLOSED)
    make_incident(reporter=reporter, title="Printer", severity=Severity.SEV1, category=network)
    query = f"q=vpn&severity=1&status=open&category={network.pk}&sort=oldest"
    response, rows = download(responder_client, query)
    listing = responder_client.get(f"{reverse('incidents:list')}?{query}")
    assert [incident["id"] for incident in listing.context["incidents"]] == [incident.pk for incident in wanted]
    # Newest first, whatever the list's order.
    assert [int(row["ID"]) for row in rows] == [incident.pk for incident in reversed(wanted)]
    second, first = rows
    assert first["Severity"] == "SEV1 – critical"
    assert first["Status"] == "Open"
    assert first["Category"] == "Network"
    assert first["Reporter"] == f"User #{reporter.pk}"
    assert first["Assignee"] == ""
    assert second["Assignee"] == f"Responder #{responder.pk}"


def test_reporter_exports_only_their_own_incidents(reporter_client, reporter, other_reporter):
    mine = make_incident(reporter=reporter, title="Mine")
    make_incident(reporter=other_reporter, title="Someone else's")
    _, rows = download(reporter_client)
    assert [int(row["ID"]) for row in rows] == [mine.pk]


def test_times_are_in_the_users_time_zone(responder_client, responder, reporter):
    responder.time_zone = "America/New_York"
    responder.save()
    make_incident(reporter=reporter)
    _, [row] = download(responder_client)
    assert row["Reported at"][-6:] in ("-05:00", "-04:00")
    assert row["Acknowledged at"] == ""


def test_times_are_whole_seconds_with_the_offset_of_their_own_date(responder_client, responder, reporter):
    """Across a daylight-saving change, and a fraction of a second before it, which is never rounded up."""
    responder.time_zone = "Europe/Paris"
    responder.save()
    before_the_change = datetime(2026, 3, 29, 0, 59, 59, 999999, tzinfo=UTC)
    make_incident(reporter=reporter, title="Before", created_at=before_the_change,
                  acknowledged_at=before_the_change + timedelta(microseconds=1))
    _, [row] = download(responder_client)
    assert (row["Reported at"], row["Acknowledged at"]) == ("2026-03-29T01:59:59+01:00", "2026-03-29T03:00:00+02:00")


def test_export_is_audited_with_its_filters(responder_client, responder):
    download(responder_client, "severity=2&q=printer&status=bogus")
    entry = AuditLog.objects.get(action=Action.INCIDENTS_EXPORTED)
    assert entry.actor == responder
    assert entry.changes == {"filters": [None, {"severity": 2, "q": "printer"}]}


def test_anonymous_visitor_is_sent_to_sign_in(client):
    response = client.get(EXPORT)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("accounts:login"))
    assert not AuditLog.objects.filter(action=Action.INCIDENTS_EXPORTED).exists()


def test_list_page_links_to_the_export_with_its_filters(responder_client):
    page = responder_client.get(f"{reverse('incidents:list')}?severity=1&q=vpn").content.decode()
    assert f'href="{EXPORT}?severity=1&amp;q=vpn"' in page


def test_search_export_lists_every_match_newest_first_not_by_relevance(responder_client, reporter):
    older = make_incident(reporter=reporter, title="VPN down", description="VPN VPN since 9:00")
    newer = make_incident(reporter=reporter, title="Printer offline", description="The VPN client hangs")
    make_incident(reporter=reporter, title="Laptop broken", description="Screen")
    _, rows = download(responder_client, "q=vpn")
    assert [int(row["ID"]) for row in rows] == [newer.pk, older.pk]
