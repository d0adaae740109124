from __future__ import annotations

import pytest
from django.db import connection
from django.urls import reverse

from incidents.models import Incident
from incidents import search
from incidents.search import MAX_SEARCH_WORDS, read_search, tsquery_for
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


@pytest.mark.postgresql
@pytest.mark.django_db
def test_a_search_slower_than_its_plan_allows_is_read_again_through_the_index_alone(monkeypatch):
    monkeypatch.setattr(search, "PLANNED_SEARCH_MS", 50)
    attempts = []

    def read() -> str:
        with connection.cursor() as cursor:
            cursor.execute("SHOW enable_seqscan")
            attempts.append(cursor.fetchone()[0])
            if len(attempts) == 1:
                cursor.execute("SELECT pg_sleep(0.5)")
        return attempts[-1]

    assert read_search(read, using="default") == "off"
    assert attempts == ["on", "off"]


@pytest.mark.postgresql
@pytest.mark.django_db
def test_a_search_failing_for_another_reason_is_not_read_again():
    attempts = []

    def read() -> None:
        attempts.append(1)
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1 / 0")

    with pytest.raises(Exception, match="division by zero"):
        read_search(read, using="default")
    assert attempts == [1]


@pytest.mark.postgresql
@pytest.mark.django_db
def test_the_list_shows_the_same_search_results_whichever_way_they_are_read(responder_client, reporter, monkeypatch):
    for number in range(30):
        make_incident(reporter=reporter, title=f"Payroll login fails {number}")
    planned = responder_client.get(reverse("incidents:list"), {"q": "payroll", "sort": "oldest"})
    attempts = []

    def slow_plan_first(read, *, using):
        def read_slowly_at_first():
            attempts.append(1)
            if len(attempts) == 1:
                with connection.cursor() as cursor:
                    cursor.execute("SELECT pg_sleep(0.5)")
            return read()
        return read_search(read_slowly_at_first, using=using)

    monkeypatch.setattr(search, "PLANNED_SEARCH_MS", 50)
    monkeypatch.setattr("incidents.views.read_search", slow_plan_first)
    through_the_index = responder_client.get(reverse("incidents:list"), {"q": "payroll", "sort": "oldest"})
    assert len(attempts) == 2
    assert titles(through_the_index) == titles(planned) == [f"Payroll login fails {number}" for number in range(25)]
    assert "30 incidents match the filters" in through_the_index.content.decode()
