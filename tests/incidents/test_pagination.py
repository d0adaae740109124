from __future__ import annotations

import html
import re
from datetime import timedelta
from urllib.parse import parse_qs, urlparse

import pytest
from django.urls import reverse
from django.utils import timezone

from incidents.models import Incident, Severity
from incidents.pagination import COUNT_CAP, InvalidCursor, bounded_count, keyset_page
from incidents.services import incident_transition
from tests.factories import make_incident

pytestmark = pytest.mark.django_db


def make_incidents(reporter, count: int) -> list[Incident]:
    """`count` incidents an hour apart (the last is the newest), severities cycling, some sharing a timestamp."""
    start = timezone.now() - timedelta(days=30)
    return [
        make_incident(reporter=reporter, title=f"Incident {number}", severity=Severity.values[number % 4],
                      created_at=start + timedelta(hours=number // 2))
        for number in range(count)
    ]


def walk(client, query: dict[str, str], direction: str = "after") -> list[list[str]]:
    """Every page's titles, following Next (or Previous) links from the first page reached with `query`."""
    pages: list[list[str]] = []
    url = reverse("incidents:list")
    params = dict(query)
    while len(pages) < 20:
        response = client.get(url, params)
        assert response.status_code == 200
        pages.append([incident["title"] for incident in response.context["incidents"]])
        cursor = getattr(response.context["page"], "next_cursor" if direction == "after" else "previous_cursor")
        if cursor is None:
            return pages
        params = {**query, direction: cursor}
    raise AssertionError("the pages never end")


def follow(client, response, rel: str):
    """Follow the page's Next or Previous link, as a reader would."""
    (address,) = re.findall(rf'rel="{rel}" href="([^"]+)"', response.content.decode())
    return client.get(reverse("incidents:list") + html.unescape(address))


@pytest.mark.parametrize("sort", ["newest", "oldest", "severity", "updated"])
def test_next_links_visit_every_incident_once_in_sort_order(responder_client, reporter, sort):
    make_incidents(reporter, 60)
    pages = walk(responder_client, {"sort": sort})
    seen = [title for page in pages for title in page]
    expected = [incident.title for incident in Incident.objects.order_by(*{
        "newest": ("-created_at", "-id"), "oldest": ("created_at", "id"),
        "severity": ("severity", "-created_at", "-id"), "updated": ("-updated_at", "-id"),
    }[sort])]
    assert [len(page) for page in pages] == [25, 25, 10]
    assert seen == expected


def test_previous_links_walk_back_to_the_first_page(responder_client, reporter):
    make_incidents(reporter, 60)
    forward = walk(responder_client, {"sort": "severity"})
    first = responder_client.get(reverse("incidents:list"), {"sort": "severity"})
    second = follow(responder_client, first, "next")
    back = follow(responder_client, second, "prev")
    assert [incident["title"] for incident in back.context["incidents"]] == forward[0]
    assert back.context["page"].previous_cursor is None


def test_page_links_keep_the_filters(responder_client, reporter):
    make_incidents(reporter, 120)
    response = responder_client.get(reverse("incidents:list"), {"severity": "2", "sort": "oldest"})
    page = response.content.decode()
    next_href = page.split('rel="next" href="')[1].split('"')[0].replace("&amp;", "&")
    params = parse_qs(urlparse(next_href).query)
    assert params["severity"] == ["2"] and params["sort"] == ["oldest"]
    following = responder_client.get(reverse("incidents:list"), {k: v[0] for k, v in params.items()})
    assert [incident["severity"] for incident in following.context["incidents"]] == [2] * 5


def test_a_tampered_cursor_shows_the_first_page_with_a_notice(responder_client, reporter):
    make_incidents(reporter, 30)
    for cursor in ("garbage", "2026-13-45T00:00:00~1", "1~2~3~4", "~"):
        response = responder_client.get(reverse("incidents:list"), {"after": cursor})
        assert response.status_code == 200
        assert len(response.context["incidents"]) == 25
        assert "That page link is out of date" in response.content.decode()


def test_keyset_page_refuses_an_ordering_without_the_primary_key(reporter):
    with pytest.raises(ValueError):
        keyset_page(Incident.objects.order_by("-created_at"), size=10)
    with pytest.raises(InvalidCursor):
        keyset_page(Incident.objects.order_by("-created_at", "-id"), size=10, after="not-a-date~1")


def test_count_is_exact_up_to_the_cap_and_said_so_beyond(responder_client, reporter, settings, monkeypatch):
    make_incidents(reporter, 30)
    assert bounded_count(Incident.objects.all(), cap=50) == 30
    assert bounded_count(Incident.objects.all(), cap=10) == 11
    assert "30 incidents" in responder_client.get(reverse("incidents:list")).content.decode()
    monkeypatch.setattr("incidents.views.COUNT_CAP", 10)
    assert f"More than {10} incidents" in responder_client.get(reverse("incidents:list")).content.decode()
    assert COUNT_CAP == 100


def test_search_results_page_by_relevance_without_repeats_or_gaps(responder_client, reporter):
    make_incidents(reporter, 40)
    for incident in Incident.objects.all()[:10]:
        Incident.objects.filter(pk=incident.pk).update(title=f"Incident {incident.pk} incident again")
    pages = walk(responder_client, {"q": "incident"})
    seen = [title for page in pages for title in page]
    assert [len(page) for page in pages] == [25, 15]
    assert sorted(seen) == sorted(Incident.objects.values_list("title", flat=True))


def test_a_count_is_counted_again_on_every_page(reporter):
    make_incidents(reporter, 12)
    assert bounded_count(Incident.objects.all(), cap=10) == 11
    small = Incident.objects.filter(title__in=["Incident 1", "Incident 2"])
    assert bounded_count(small, cap=10) == 2
    make_incident(reporter=reporter, title="Incident 1")
    assert bounded_count(small, cap=10) == 3


def test_a_query_that_can_match_nothing_counts_zero_without_asking_the_database(django_assert_num_queries):
    with django_assert_num_queries(0):
        assert bounded_count(Incident.objects.none()) == 0


def test_the_list_follows_every_write_at_once(responder_client, reporter, responder):
    url = reverse("incidents:list")
    incident = make_incident(reporter=reporter, title="Chiller alarm")
    assert [row["title"] for row in responder_client.get(url, {"status": "open"}).context["incidents"]] == ["Chiller alarm"]
    incident_transition(incident, actor=responder, name="start")
    assert list(responder_client.get(url, {"status": "open"}).context["incidents"]) == []
    page = responder_client.get(url, {"status": "in_progress"})
    assert [row["title"] for row in page.context["incidents"]] == ["Chiller alarm"]
    assert "1 incident match the filters" in page.content.decode()
