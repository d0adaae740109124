from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from incidents.models import Incident
from incidents import search
from incidents.search import MAX_SEARCH_WORDS, tsquery_for
from incidents.services import comment_add, incident_update
from tests.factories import make_comment, make_incident

on_sqlite = pytest.mark.skipif(connection.vendor == "postgresql", reason="the substring fallback is for SQLite")


def titles(response) -> list[str]:
    return [incident.title for incident in response.context["incidents"]]


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


def searched_through_the_index(captured) -> bool:
    """Whether the page's own query (26 rows: a page and one more) ran while the walks were off."""
    statements = [query["sql"] for query in captured]
    walks_off = [number for number, sql in enumerate(statements) if "enable_seqscan = off" in sql]
    walks_on = [number for number, sql in enumerate(statements) if "enable_seqscan TO DEFAULT" in sql]
    [page] = [number for number, sql in enumerate(statements) if "LIMIT 26" in sql]
    return any(off < page < on for off, on in zip(walks_off, walks_on))


@pytest.mark.postgresql
@pytest.mark.django_db
def test_a_search_of_several_words_with_few_matches_is_read_through_its_index(
        responder_client, reporter, monkeypatch):
    for number in range(6):
        make_incident(reporter=reporter, title=f"Payroll login fails {number}")
    url = reverse("incidents:list")
    with CaptureQueriesContext(connection) as few:
        through_the_index = responder_client.get(url, {"q": "payroll login", "sort": "oldest"})
    monkeypatch.setattr(search, "INDEX_PLAN_LIMIT", 5)
    with CaptureQueriesContext(connection) as many:
        planned = responder_client.get(url, {"q": "payroll login", "sort": "oldest"})
    with CaptureQueriesContext(connection) as one_word:
        responder_client.get(url, {"q": "payroll", "sort": "oldest"})
    assert searched_through_the_index(few) and not searched_through_the_index(many)
    assert not searched_through_the_index(one_word), "one word's matches are estimated well: PostgreSQL plans it"
    assert titles(through_the_index) == titles(planned) == [f"Payroll login fails {number}" for number in range(6)]
    assert "6 incidents match the filters" in through_the_index.content.decode()
    assert "6 incidents match the filters" in planned.content.decode()


@pytest.mark.postgresql
@pytest.mark.django_db
def test_only_the_search_reads_go_through_the_index():
    with search.planned_without("default", "seqscan", "indexscan"), connection.cursor() as cursor:
        cursor.execute("SHOW enable_seqscan")
        inside = cursor.fetchone()[0]
    with connection.cursor() as cursor:
        cursor.execute("SHOW enable_seqscan")
        after = cursor.fetchone()[0]
    assert (inside, after) == ("off", "on")


def ranking_at_most(monkeypatch, matches: int) -> None:
    monkeypatch.setattr(search, "RANKED_MATCHES", matches)
    monkeypatch.setattr("incidents.models.RANKED_MATCHES", matches)


def searched_in_window(client, monkeypatch, text: str, *, window: int) -> tuple[list[str], list[str]]:
    """The titles a search for `text` lists when RECENT_WINDOW is `window`, and the SQL it ran."""
    monkeypatch.setattr(search, "RECENT_WINDOW", window)
    with CaptureQueriesContext(connection) as queries:
        response = client.get(reverse("incidents:list"), {"q": text})
    return titles(response), [query["sql"] for query in queries]


@pytest.mark.postgresql
@pytest.mark.django_db
def test_a_relevance_search_finds_its_newest_matches_among_the_newest_incidents_first(
        responder_client, reporter, monkeypatch):
    ranking_at_most(monkeypatch, 3)
    for number in range(4):
        make_incident(reporter=reporter, title=f"Phone outage {number}")
    for number in range(4):
        make_incident(reporter=reporter, title=f"Phone system down {number}")
        make_incident(reporter=reporter, title=f"Printer jammed {number}")

    def search_for(text: str, *, window: int) -> tuple[list[str], bool]:
        found, statements = searched_in_window(responder_client, monkeypatch, text, window=window)
        page_reads = [sql for sql in statements if "LIMIT 26" in sql]
        return found, any('"created_at" >=' in sql for sql in page_reads)

    # The newest eight incidents hold three matches or more: the page is read among them.
    in_window, read_in_window = search_for("phone", window=8)
    assert read_in_window
    assert in_window == search_for("phone", window=1000)[0] == [f"Phone system down {n}" for n in (3, 2, 1)]
    # They hold none of these: the whole table is searched, and the older matches found.
    older, read_in_window = search_for("outage", window=8)
    assert not read_in_window
    assert older == [f"Phone outage {n}" for n in (3, 2, 1)]


@pytest.mark.postgresql
@pytest.mark.django_db
def test_a_relevance_search_with_enough_matches_among_the_newest_walks_on_for_the_rest(
        responder_client, reporter, monkeypatch):
    ranking_at_most(monkeypatch, 4)
    monkeypatch.setattr(search, "COUNT_CAP", 1)
    for number in range(3):
        make_incident(reporter=reporter, title=f"Phone outage {number}")
        make_incident(reporter=reporter, title=f"Printer jammed {number}")

    # Two matches among the newest four incidents: more than the cap, fewer than ranked.
    walked_on, statements = searched_in_window(responder_client, monkeypatch, "phone", window=4)
    settings = [sql for sql in statements if sql.startswith("SET LOCAL enable_")]
    assert settings == ["SET LOCAL enable_bitmapscan = off", "SET LOCAL enable_bitmapscan TO DEFAULT"]
    assert walked_on == searched_in_window(responder_client, monkeypatch, "phone", window=1000)[0] == [
        f"Phone outage {n}" for n in (2, 1, 0)]
