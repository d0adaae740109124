from __future__ import annotations

import csv
import io

import pytest
from django.db import connection
from django.urls import reverse

from incidents.models import Incident
from incidents.pagination import CURSOR_SEPARATOR, KeysetPage
from incidents.search import MAX_SEARCH_WORDS, RANKED_MATCHES, tsquery_for
from incidents.services import comment_add, incident_update
from tests.factories import make_comment, make_incident, make_shared_word_incidents

on_sqlite = pytest.mark.skipif(connection.vendor == "postgresql", reason="the substring fallback is for SQLite")


def titles(response) -> list[str]:
    return [incident["title"] for incident in response.context["incidents"]]


def test_tsquery_keeps_only_words_and_prefixes_the_last():
    assert tsquery_for("VPN  drop") == "'vpn' & 'drop':*"
    assert tsquery_for("  ") is None
    assert tsquery_for("!!! & | :* <-> ()") is None


def test_tsquery_cannot_be_injected_with_operators_or_quotes():
    query = tsquery_for("a' | 'b'):* & !c \\ d")
    assert query == "'a' & 'b' & 'c' & 'd':*"


def test_tsquery_keeps_at_most_the_first_words():
    query = tsquery_for(" ".join(f"w{n}" for n in range(20)))
    assert query is not None and query.count("&") == MAX_SEARCH_WORDS - 1


@pytest.mark.postgresql
@pytest.mark.django_db
def test_search_finds_words_in_title_description_and_public_comments_only(responder_client, reporter, responder):
    make_incident(reporter=reporter, title="Printer jammed", description="<p>Tray two.</p>")
    make_incident(reporter=reporter, title="Other", description="<p>The printers on floor 3 are offline.</p>")
    commented = make_incident(reporter=reporter, title="Commented", description="<p>Nothing here.</p>")
    make_comment(incident=commented, author=responder, body="<p>The printer driver was reinstalled.</p>")
    noted = make_incident(reporter=reporter, title="Noted", description="<p>Nothing here.</p>")
    make_comment(incident=noted, author=responder, body="<p>printer secret</p>", internal=True)

    response = responder_client.get(reverse("incidents:list"), {"q": "printer"})

    # Best match first: a title match outranks a description match, which outranks a comment.
    assert titles(response) == ["Printer jammed", "Other", "Commented"]


@pytest.mark.postgresql
@pytest.mark.django_db
def test_search_matches_the_last_word_as_a_prefix_while_typing(responder_client, reporter):
    make_incident(reporter=reporter, title="Database backups failing")
    make_incident(reporter=reporter, title="Database slow")
    assert titles(responder_client.get(reverse("incidents:list"), {"q": "database back"})) == ["Database backups failing"]


@pytest.mark.postgresql
@pytest.mark.django_db
def test_search_vector_follows_edits_and_comments(reporter, responder):
    incident = make_incident(reporter=reporter, title="Laptop will not boot")
    incident = incident_update(incident, actor=reporter, expected_version=1, title="Monitor flickers")
    assert not Incident.objects.search("laptop").exists()
    assert Incident.objects.search("monitor").get() == incident
    comment_add(incident, author=responder, body="Replaced the HDMI cable.")
    assert Incident.objects.search("hdmi").get() == incident
    incident.comments.all().delete()
    assert not Incident.objects.search("hdmi").exists()


@pytest.mark.postgresql
@pytest.mark.django_db
def test_search_with_only_punctuation_finds_nothing_and_does_not_fail(responder_client, reporter):
    make_incident(reporter=reporter, title="Anything")
    response = responder_client.get(reverse("incidents:list"), {"q": "'):* & |"})
    assert response.status_code == 200
    assert titles(response) == []


@on_sqlite
@pytest.mark.django_db
def test_search_falls_back_to_substring_matching_on_sqlite(responder_client, reporter):
    make_incident(reporter=reporter, title="Wi-Fi slow in meeting rooms")
    make_incident(reporter=reporter, title="Other", description="<p>The wi-fi dropped.</p>")
    make_incident(reporter=reporter, title="Unrelated")
    assert titles(responder_client.get(reverse("incidents:list"), {"q": "WI-FI"})) == ["Other", "Wi-Fi slow in meeting rooms"]


@pytest.mark.django_db
def test_reporter_search_stays_within_their_own_incidents(reporter_client, reporter, other_reporter):
    make_incident(reporter=reporter, title="Payroll login fails")
    make_incident(reporter=other_reporter, title="Payroll export broken")
    assert titles(reporter_client.get(reverse("incidents:list"), {"q": "payroll"})) == ["Payroll login fails"]


def test_the_search_box_shows_what_was_typed_escaped(reporter_client):
    response = reporter_client.get(reverse("incidents:list"), {"q": '"><script>alert(1)</script>'})

    page = response.content.decode()
    assert response.status_code == 200
    assert 'value="&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;"' in page
    assert "<script>alert(1)" not in page


@pytest.mark.django_db
def test_search_results_follow_every_committed_write(
        responder_client, reporter, responder, django_capture_on_commit_callbacks):
    search = {"q": "payroll"}
    with django_capture_on_commit_callbacks(execute=True):
        first = make_incident(reporter=reporter, title="Payroll login fails")
    assert titles(responder_client.get(reverse("incidents:list"), search)) == ["Payroll login fails"]
    with django_capture_on_commit_callbacks(execute=True):
        make_incident(reporter=reporter, title="Payroll export broken")
    assert titles(responder_client.get(reverse("incidents:list"), search)) == [
        "Payroll export broken", "Payroll login fails"]
    with django_capture_on_commit_callbacks(execute=True):
        incident_update(first, actor=responder, expected_version=first.version, title="Login fails")
    page = responder_client.get(reverse("incidents:list"), search)
    assert titles(page) == ["Payroll export broken"]
    assert "1 incident match the filters" in page.content.decode()


@pytest.mark.django_db
def test_a_search_never_shows_what_the_reader_may_not_see(
        responder_client, reporter_client, reporter, other_reporter):
    make_incident(reporter=other_reporter, title="Payroll export broken")
    assert titles(responder_client.get(reverse("incidents:list"), {"q": "payroll"})) == ["Payroll export broken"]
    assert titles(reporter_client.get(reverse("incidents:list"), {"q": "payroll"})) == []


@pytest.mark.postgresql
@pytest.mark.django_db
def test_search_results_follow_a_new_comment(
        responder_client, reporter, responder, django_capture_on_commit_callbacks):
    incident = make_incident(reporter=reporter, title="Printer jammed")
    assert titles(responder_client.get(reverse("incidents:list"), {"q": "toner"})) == []
    with django_capture_on_commit_callbacks(execute=True):
        comment_add(incident, author=responder, body="<p>Replaced the toner.</p>", internal=False)
    assert titles(responder_client.get(reverse("incidents:list"), {"q": "toner"})) == ["Printer jammed"]


def every_page(client, url: str, query: dict[str, str], *, forwards: bool = True,
               start: str | None = "") -> list[KeysetPage]:
    """Each page, following rel=next (or from `start` backwards, rel=prev) to the end."""
    pages, cursor, name = [], start, "after" if forwards else "before"
    while True:
        response = client.get(url, {**query, **({name: cursor} if cursor else {})})
        assert response.status_code == 200
        page = response.context["page"]
        pages.append(page)
        cursor = page.next_cursor if forwards else page.previous_cursor
        if not cursor:
            return pages


def ids(pages: list[KeysetPage]) -> list[list[int]]:
    return [[incident["id"] for incident in page.rows] for page in pages]


@pytest.mark.postgresql
@pytest.mark.django_db
@pytest.mark.parametrize("sort", ["", "newest", "oldest", "severity", "updated"])
def test_every_match_of_a_search_is_reached_through_the_pages_in_every_order(responder_client, reporter, sort):
    expected = make_shared_word_incidents(reporter)
    url = reverse("incidents:list")
    for text, matches in expected.items():
        query = {"q": text, **({"sort": sort} if sort else {})}
        pages = every_page(responder_client, url, query)
        reached = [pk for page in ids(pages) for pk in page]
        assert sorted(reached) == sorted(matches), f"{text!r} sorted by {sort or 'best match'}"
        # Back from the last page through rel=prev: the same pages, in reverse.
        backwards = every_page(responder_client, url, query, forwards=False, start=pages[-1].previous_cursor)
        assert ids(backwards)[::-1] == ids(pages)[:-1]


@pytest.mark.postgresql
@pytest.mark.django_db
def test_best_match_ranks_the_newest_matches_then_lists_the_older_ones_newest_first(responder_client, reporter):
    matches = make_shared_word_incidents(reporter)["quokka"]
    url = reverse("incidents:list")
    pages = ids(every_page(responder_client, url, {"q": "quokka"}))
    reached = [pk for page in pages for pk in page]
    newest = list(Incident.objects.filter(pk__in=matches).order_by("-created_at", "-id").values_list("pk", flat=True))
    ranks = {incident.pk: getattr(incident, "rank") for incident in Incident.objects.search("quokka").filter(pk__in=matches)}
    ranked = sorted(newest[:RANKED_MATCHES], key=lambda pk: (-ranks[pk], -pk))
    assert reached == ranked + newest[RANKED_MATCHES:]
    # The pages never mix the two parts, and rel=prev walks back over the same pages.
    assert [len(page) for page in pages] == [25] * 8 + [25, 25, 10]
    last_page = responder_client.get(url, {"q": "quokka", "before": f"2{CURSOR_SEPARATOR}"}).context["page"]
    assert [incident["id"] for incident in last_page.rows] == pages[7]
    backwards = every_page(responder_client, url, {"q": "quokka"}, forwards=False, start=last_page.previous_cursor)
    assert ids(backwards)[::-1] == pages[:7]
    page = responder_client.get(url, {"q": "quokka"})
    assert "More than 100 incidents match the filters." in page.content.decode()
    assert "older matches follow, newest first" in page.content.decode()


@pytest.mark.postgresql
@pytest.mark.django_db
def test_the_csv_export_of_a_search_holds_every_match_newest_first_in_any_order(responder_client, reporter):
    for text, matches in make_shared_word_incidents(reporter).items():
        newest = list(Incident.objects.filter(pk__in=matches).order_by("-created_at", "-id").values_list("pk", flat=True))
        for sort in ("", "oldest", "severity"):
            response = responder_client.get(reverse("incidents:export"), {"q": text, **({"sort": sort} if sort else {})})
            assert response.streaming
            rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode("utf-8-sig"))))
            assert [int(row["ID"]) for row in rows] == newest


@pytest.mark.postgresql
@pytest.mark.django_db
@pytest.mark.parametrize("cursor", ["0.0607~12", "3~", "2~not-a-date~1", "1"])
def test_a_best_match_cursor_that_names_no_part_shows_the_first_page_with_a_notice(responder_client, reporter, cursor):
    make_shared_word_incidents(reporter)
    first = responder_client.get(reverse("incidents:list"), {"q": "quokka"})
    response = responder_client.get(reverse("incidents:list"), {"q": "quokka", "after": cursor})
    assert response.status_code == 200
    assert titles(response) == titles(first)
    assert "That page link is out of date" in response.content.decode()
