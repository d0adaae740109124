"""
Each page answers in the same number of queries whether it shows 1 row or a full page,
so a page cannot grow an N+1 as the data grows. A list adds one: its count, which a
first page that holds every match takes from its rows instead.
"""
from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from incidents.models import Incident, Severity
from incidents.workflow import Status
from tests.queries import rendered_page_queries
from tests.factories import make_category, make_comment, make_incident

pytestmark = pytest.mark.django_db

LIST_QUERIES = [
    {},
    {"status": Status.IN_PROGRESS},
    {"severity": "1"},
    {"category": "CATEGORY"},
    {"assignee": "me"},
    {"assignee": "none", "sort": "updated"},
    {"assignee": "ASSIGNEE", "sort": "severity"},
    {"sort": "oldest"},
    {"sort": "severity"},
    {"sort": "updated"},
    {"q": "printer"},
    {"q": "printer", "sort": "newest"},
    {"status": Status.IN_PROGRESS, "severity": "1", "sort": "severity"},
]


# A list of more than one page counts its matches (up to 101) in one query.
COUNT_QUERY = 1


def queries_for(client, url: str, params: dict[str, str] | None = None) -> int:
    return rendered_page_queries(client, url, params, shows="Printer")


def add_incidents(count: int, *, reporter, assignee, category) -> list[Incident]:
    """Incidents that every list query above matches, each with a comment and an internal note."""
    incidents = []
    for number in range(count):
        incident = make_incident(
            reporter=reporter, title=f"Printer {number} offline", severity=Severity.SEV1, status=Status.IN_PROGRESS,
            category=category, assignee=assignee if number % 2 else None,
        )
        make_comment(incident=incident, author=assignee, body="<p>Looking into the printer.</p>")
        make_comment(incident=incident, author=assignee, body="<p>Note.</p>", internal=True)
        incidents.append(incident)
    return incidents


@pytest.fixture
def world(reporter, responder):
    return {"reporter": reporter, "assignee": responder, "category": make_category()}


def resolved(params: dict[str, str], world) -> dict[str, str]:
    names = {"CATEGORY": str(world["category"].pk), "ASSIGNEE": str(world["assignee"].pk)}
    return {name: names.get(value, value) for name, value in params.items()}


@pytest.mark.parametrize("params", LIST_QUERIES, ids=lambda params: "&".join(f"{k}={v}" for k, v in params.items()) or "all")
def test_list_queries_do_not_grow_with_rows(responder_client, world, params):
    params = resolved(params, world)
    add_incidents(2, **world)  # one assigned, one not: every filter above shows a row
    with_two = queries_for(responder_client, reverse("incidents:list"), params)
    add_incidents(58, **world)  # 30 assigned, 30 not: every list above has a next page
    assert queries_for(responder_client, reverse("incidents:list"), params) == with_two + COUNT_QUERY


def test_reporters_list_queries_do_not_grow_with_rows(world, reporter_client):
    add_incidents(1, **world)
    with_one = queries_for(reporter_client, reverse("incidents:list"))
    add_incidents(49, **world)
    assert queries_for(reporter_client, reverse("incidents:list")) == with_one + COUNT_QUERY


def test_detail_queries_do_not_grow_with_comments(responder_client, world, responder):
    incident = add_incidents(1, **world)[0]
    url = reverse("incidents:detail", args=[incident.pk])
    with_one = queries_for(responder_client, url)
    for _ in range(49):
        make_comment(incident=incident, author=responder)
    assert queries_for(responder_client, url) == with_one


@pytest.mark.parametrize("who", ["responder_client", "reporter_client"])
def test_dashboard_queries_do_not_grow_with_rows(request, world, who):
    client = request.getfixturevalue(who)
    add_incidents(1, **world)
    with_one = queries_for(client, reverse("dashboard"))
    add_incidents(49, **world)
    assert queries_for(client, reverse("dashboard")) == with_one


def test_export_queries_do_not_grow_with_rows(responder_client, world):
    def streamed_queries() -> tuple[int, int]:
        with CaptureQueriesContext(connection) as captured:
            response = responder_client.get(reverse("incidents:export"))
            body = b"".join(response.streaming_content)
        assert response.status_code == 200
        return len(captured), body.count(b"\n")

    add_incidents(1, **world)
    streamed_queries()
    with_one, lines = streamed_queries()
    add_incidents(49, **world)
    with_fifty, more_lines = streamed_queries()
    assert (with_fifty, more_lines - lines) == (with_one, 49)
