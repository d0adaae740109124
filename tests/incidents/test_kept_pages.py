"""
The list, detail and dashboard pages each worker keeps rendered (incidents/kept.py):
a repeat reads nothing, yet every response has its own CSRF token, every reader their
own page, and the times move on with the clock.
"""
from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from incidents import kept, views
from tests.conftest import signed_in_verified
from tests.factories import make_category, make_comment, make_incident, make_user

pytestmark = pytest.mark.django_db

LIST = reverse("incidents:list")
NOW = datetime(2026, 6, 1, 12, 0, 30, tzinfo=UTC)


def incident_queries(client: Client, address: str) -> list[str]:
    with CaptureQueriesContext(connection) as queries:
        assert client.get(address).status_code == 200
    return [query["sql"] for query in queries if "incidents_" in query["sql"]]


@pytest.mark.parametrize("address", [LIST, f"{LIST}?status=open&sort=severity", f"{LIST}?q=printer", "/"])
def test_a_repeated_page_reads_no_incident(responder_client, reporter, address):
    make_incident(reporter=reporter, title="Printer on fire")
    assert incident_queries(responder_client, address)
    assert incident_queries(responder_client, address) == []


def test_a_repeated_detail_page_reads_no_incident(responder_client, reporter):
    incident = make_incident(reporter=reporter)
    make_comment(incident=incident, author=reporter, body="Still broken")
    assert incident_queries(responder_client, incident.get_absolute_url())
    assert incident_queries(responder_client, incident.get_absolute_url()) == []


def test_a_kept_page_carries_a_working_csrf_token_of_its_own(responder, reporter):
    incident = make_incident(reporter=reporter)
    first, second = signed_in_verified(responder), signed_in_verified(responder)
    first.get(incident.get_absolute_url())
    posted = 0
    for client in (first, second):
        client.handler.enforce_csrf_checks = True
        page = client.get(incident.get_absolute_url()).content.decode()
        assert views.CSRF_TOKEN_PLACEHOLDER not in page
        tokens = set(re.findall(r'name="csrfmiddlewaretoken" value="([^"]+)"', page))
        assert len(tokens) == 1, "every form on the page, the header's sign-out included, has this response's token"
        for token in tokens:
            response = client.post(reverse("incidents:comment", args=[incident.pk]),
                                   {"body": "On it", "csrfmiddlewaretoken": token})
            assert response.status_code == 302
        posted += len(tokens)
    assert incident.comments.count() == posted


def test_a_page_kept_for_a_responder_is_not_shown_to_the_reporter(responder_client, responder, reporter):
    incident = make_incident(reporter=reporter, title="Badge reader dead")
    make_comment(incident=incident, author=responder, body="Vendor contract lapsed", internal=True)
    assert "Vendor contract lapsed" in responder_client.get(incident.get_absolute_url()).content.decode()
    page = signed_in_verified(reporter).get(incident.get_absolute_url()).content.decode()
    assert "Badge reader dead" in page and "Vendor contract lapsed" not in page


def test_a_page_kept_for_one_reporter_is_not_shown_to_another(reporter):
    other = make_user(username="other-reporter")
    make_incident(reporter=reporter, title="Mine only")
    assert "Mine only" in signed_in_verified(reporter).get(LIST).content.decode()
    assert "Mine only" not in signed_in_verified(other).get(LIST).content.decode()


def test_kept_times_move_on_after_a_minute(responder_client, reporter):
    with time_machine.travel(NOW, tick=False):
        make_incident(reporter=reporter, created_at=NOW - timedelta(seconds=20))
        assert "just now" in responder_client.get(LIST).content.decode()
    with time_machine.travel(NOW + timedelta(seconds=50), tick=False):
        assert "just now" in responder_client.get(LIST).content.decode(), "within the minute: the kept page"
    with time_machine.travel(NOW + timedelta(minutes=5), tick=False):
        assert "5 minutes ago" in responder_client.get(LIST).content.decode()


def test_while_an_expired_page_is_rendered_again_other_requests_get_the_kept_one():
    with time_machine.travel(NOW, tick=False):
        kept.kept_markup(("reader", "address"), lambda: kept.KeptMarkup("Incidents", "rendered first", "<html>first</html>"))
    seen_meanwhile: list[str] = []

    def render_again() -> kept.KeptMarkup:
        # Another request for the same page, arriving while this one renders.
        seen_meanwhile.append(kept.kept_markup(("reader", "address"), lambda: pytest.fail("rendered twice")).content)
        return kept.KeptMarkup("Incidents", "rendered again", "<html>again</html>")

    with time_machine.travel(NOW + timedelta(seconds=kept.KEPT_PAGE_SECONDS + 1), tick=False):
        assert kept.kept_markup(("reader", "address"), render_again).content == "rendered again"
        assert seen_meanwhile == ["rendered first"]
        assert kept.kept_markup(("reader", "address"), lambda: pytest.fail("kept")).content == "rendered again"


def test_a_message_shows_once_on_a_kept_page(responder_client, reporter):
    incident = make_incident(reporter=reporter, title="Chiller alarm", version=3)
    first = responder_client.get(incident.get_absolute_url()).content.decode()
    stale = reverse("incidents:transition", args=[incident.pk, "start"])
    shown = responder_client.post(stale, {"version": 2}, follow=True).content.decode()
    assert "This incident changed since you loaded the page" in shown and "Chiller alarm" in shown
    again = responder_client.get(incident.get_absolute_url()).content.decode()
    assert "This incident changed since you loaded the page" not in again and "Chiller alarm" in again
    assert again.count('class="messages"') == first.count('class="messages"') == 0


def test_an_out_of_date_link_says_so_every_time(responder_client, reporter):
    make_incident(reporter=reporter)
    for _ in range(2):
        page = responder_client.get(LIST, {"after": "garbage"}).content.decode()
        assert "That page link is out of date" in page


def test_a_category_renamed_shows_at_once_on_kept_pages(
        responder_client, reporter, django_capture_on_commit_callbacks):
    category = make_category(name="Network")
    incident = make_incident(reporter=reporter, category=category)
    assert "Network" in responder_client.get(incident.get_absolute_url()).content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        category.name = "Campus network"
        category.save()
    assert "Campus network" in responder_client.get(incident.get_absolute_url()).content.decode()
