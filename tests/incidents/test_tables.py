"""The incident tables (list and dashboard): names from the cache, times people read at a glance, escaping."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.urls import reverse

from incidents import forms
from incidents.models import Category
from incidents.services import comment_add
from incidents.templatetags.incidents import relative_time
from tests.factories import make_category, make_comment, make_incident, make_user

pytestmark = pytest.mark.django_db

LIST = reverse("incidents:list")
NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(("ago", "said"), [
    (timedelta(seconds=0), "just now"),
    (timedelta(seconds=59), "just now"),
    (timedelta(minutes=1), "1 minute ago"),
    (timedelta(minutes=59, seconds=59), "59 minutes ago"),
    (timedelta(hours=1), "1 hour ago"),
    (timedelta(hours=23), "23 hours ago"),
    (timedelta(days=1), "1 day ago"),
    (timedelta(days=29), "29 days ago"),
    (timedelta(days=45), "1 month ago"),
    (timedelta(days=364), "12 months ago"),
    (timedelta(days=800), "2 years ago"),
    (timedelta(minutes=-5), "just now"),
])
def test_relative_time_names_the_largest_unit(ago, said):
    assert relative_time(NOW - ago, NOW) == said


def test_list_shows_the_time_in_the_users_zone(responder_client, responder, reporter):
    responder.time_zone = "Asia/Tokyo"
    responder.save()
    make_incident(reporter=reporter, created_at=datetime(2026, 1, 15, 9, 30, tzinfo=UTC))
    page = responder_client.get(LIST).content.decode()
    assert '<time datetime="2026-01-15T18:30:00+09:00">' in page
    assert '<span class="absolute-time">15 Jan 2026, 18:30</span>' in page


def test_a_former_responder_still_assigned_is_named(responder_client, reporter, django_capture_on_commit_callbacks):
    former = make_user(username="former", first_name="Fran", last_name="Former", is_staff=True)
    make_incident(reporter=reporter, assignee=former)
    responder_client.get(LIST)  # the names are cached with Fran as a responder
    former.is_staff = False
    with django_capture_on_commit_callbacks(execute=True):
        former.save()
    page = responder_client.get(LIST).content.decode()
    assert '<span class="cell-label">Assignee: </span>Fran Former</td>' in page
    assert f'<option value="{former.pk}">Fran Former</option>' not in page, "no longer offered as an assignee filter"


def test_a_category_added_after_the_names_were_read_is_named(
        responder_client, reporter, django_capture_on_commit_callbacks):
    responder_client.get(LIST)
    # Made without a signal, as if by another worker: this process's copy of the names lacks it.
    (storage,) = Category.objects.bulk_create([Category(name="Storage")])
    with django_capture_on_commit_callbacks(execute=True):
        make_incident(reporter=reporter, category=storage)
    assert '<span class="cell-label">Category: </span>Storage</td>' in responder_client.get(LIST).content.decode()


def test_names_and_titles_are_escaped_in_tables_and_filters(responder_client, reporter):
    payload = '<img src=x onerror="alert(1)">'
    person = make_user(username="mallory", first_name=payload, is_staff=True)
    make_incident(reporter=reporter, title=payload, assignee=person, category=make_category(name=payload))
    make_incident(reporter=reporter, title=payload)  # unassigned: on the dashboard's queue
    escaped = "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;"
    page = responder_client.get(LIST).content.decode()
    assert payload not in page
    assert page.count(escaped) >= 5, "title, category and assignee cells; category and assignee filter options"
    dashboard = responder_client.get(reverse("dashboard")).content.decode()
    assert payload not in dashboard and escaped in dashboard


def test_filter_selects_mark_the_chosen_option_only(responder_client, reporter):
    page = responder_client.get(LIST, {"status": "resolved", "sort": "severity"}).content.decode()
    assert '<option value="resolved" selected>Resolved</option>' in page
    assert '<option value="severity" selected>Most severe first</option>' in page
    assert page.count(" selected>") == 2 + 3, "status and sort, plus the empty choice of the other three"


def test_detail_names_every_comment_author(responder_client, reporter, responder):
    incident = make_incident(reporter=reporter)
    former = make_user(username="former", first_name="Fran", last_name="Former", is_staff=True)
    helper = make_user(username="helper", first_name="Hana", last_name="Helper", is_staff=True)
    for author in (reporter, former, helper):
        make_comment(incident=incident, author=author, body=f"<p>From {author.username}</p>")
    former.is_staff = False
    former.save()
    page = responder_client.get(reverse("incidents:detail", args=[incident.pk])).content.decode()
    for name in ("reporter", "Fran Former", "Hana Helper"):
        assert f"<header><strong>{name}</strong>" in page


def test_filter_fields_show_each_requests_own_choices(responder_client):
    for status, sort in [("open", "oldest"), ("resolved", "severity"), ("open", "oldest"), ("", "")]:
        page = responder_client.get(LIST, {"status": status, "sort": sort, "q": f"{status}<b>"}).content.decode()
        for value in ("open", "resolved", "oldest", "severity"):
            chosen = f'<option value="{value}" selected>' in page
            assert chosen == (value in (status, sort)), (status, sort, value)
        assert f'name="q" value="{status}&lt;b&gt;"' in page


def test_a_kept_detail_page_is_only_shown_to_readers_who_may_see_all_of_it(
        responder_client, reporter_client, other_client, reporter, responder):
    incident = make_incident(reporter=reporter, title="Core switch")
    make_comment(incident=incident, author=responder, body="<p>Secret vendor contract</p>", internal=True)
    url = reverse("incidents:detail", args=[incident.pk])
    assert "Secret vendor contract" in responder_client.get(url).content.decode()
    assert "Secret vendor contract" not in reporter_client.get(url).content.decode()
    assert other_client.get(url).status_code == 404


def test_the_detail_page_shows_what_was_committed_since_it_was_last_read(
        reporter_client, reporter, responder, django_capture_on_commit_callbacks):
    incident = make_incident(reporter=reporter)
    url = reverse("incidents:detail", args=[incident.pk])
    assert "No comments yet." in reporter_client.get(url).content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        comment_add(incident, author=responder, body="<p>On it</p>")
    page = reporter_client.get(url).content.decode()
    assert "On it" in page and "No comments yet." not in page


def test_filter_markup_kept_stays_bounded_and_right(responder_client, monkeypatch):
    monkeypatch.setattr("incidents.forms.FILTER_MARKUP_KEPT", 2)
    for status in ("open", "in_progress", "resolved", "closed", "open"):
        page = responder_client.get(LIST, {"status": status}).content.decode()
        assert page.count(" selected>") == 1 + 4 and f'<option value="{status}" selected>' in page
    assert len(forms._filter_markup["by_values"]) <= 2


def test_a_renamed_commenter_is_named_anew_on_a_kept_detail_page(
        responder_client, reporter, responder, django_capture_on_commit_callbacks):
    incident = make_incident(reporter=reporter)
    make_comment(incident=incident, author=reporter, body="<p>Still down</p>")
    url = reverse("incidents:detail", args=[incident.pk])
    assert "<header><strong>reporter</strong>" in responder_client.get(url).content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        reporter.first_name, reporter.last_name = "Rita", "Reporter"
        reporter.save()
    assert "<header><strong>Rita Reporter</strong>" in responder_client.get(url).content.decode()
