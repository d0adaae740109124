from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

import pytest
import time_machine
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from incidents import caching, dashboard
from incidents.models import Incident, Severity
from incidents.services import comment_add, incident_create, incident_transition, incident_update
from incidents.templatetags.incidents import duration
from incidents.workflow import Status
from tests.conftest import signed_in, signed_in_verified
from tests.queries import rendered_page_queries
from tests.factories import DEFAULT_PASSWORD, make_incident, make_user

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 3, 20, 12, 0, tzinfo=UTC)


def test_count_grid_counts_by_severity_and_status(reporter):
    for severity, status in [(1, Status.OPEN), (1, Status.OPEN), (1, Status.CLOSED), (3, Status.IN_PROGRESS)]:
        make_incident(reporter=reporter, severity=severity, status=status)
    grid = dashboard.count_grid()
    sev1, sev2, sev3, sev4 = grid.rows
    assert [value for value, _label in grid.statuses] == ["open", "in_progress", "resolved", "closed"]
    assert (sev1.by_status, sev1.total) == ([2, 0, 0, 1], 3)
    assert (sev2.by_status, sev3.by_status, sev4.total) == ([0, 0, 0, 0], [0, 1, 0, 0], 0)
    assert (grid.status_totals, grid.total) == ([2, 1, 0, 1], 4)


def test_count_grid_follows_every_write_to_the_table_whatever_makes_it(reporter, responder):
    incident = make_incident(reporter=reporter, severity=Severity.SEV2)
    incident_transition(incident, actor=responder, name="start")
    assert dashboard.count_grid().rows[1].by_status == [0, 1, 0, 0]
    Incident.objects.filter(pk=incident.pk).update(severity=Severity.SEV4)
    make_incident(reporter=reporter, severity=Severity.SEV4, status=Status.CLOSED)
    grid = dashboard.count_grid()
    assert (grid.rows[1].total, grid.rows[3].by_status) == (0, [0, 1, 0, 1])
    Incident.objects.filter(status=Status.CLOSED).delete()
    assert dashboard.count_grid().total == 1 == Incident.objects.count()


@time_machine.travel(NOW, tick=False)
def test_response_times_average_per_severity_over_the_window(reporter):
    reported = NOW - timedelta(days=2)
    make_incident(reporter=reporter, severity=Severity.SEV1, created_at=reported,
                  acknowledged_at=reported + timedelta(minutes=10), status=Status.RESOLVED,
                  resolved_at=reported + timedelta(hours=2))
    make_incident(reporter=reporter, severity=Severity.SEV1, created_at=reported,
                  acknowledged_at=reported + timedelta(minutes=30))
    make_incident(reporter=reporter, severity=Severity.SEV1, created_at=reported)
    make_incident(reporter=reporter, severity=Severity.SEV1, created_at=NOW - timedelta(days=40),
                  acknowledged_at=NOW - timedelta(days=10))
    with timezone.override("UTC"):
        sev1, sev2, *_ = dashboard.response_times(dashboard.recent_groups(today=NOW.date()))
    assert (sev1.reported, sev1.acknowledged, sev1.resolved) == (3, 2, 1)
    assert sev1.time_to_acknowledge == timedelta(minutes=20)
    assert sev1.time_to_resolve == timedelta(hours=2)
    assert (sev2.reported, sev2.time_to_acknowledge, sev2.time_to_resolve) == (0, None, None)


def test_daily_chart_has_a_bar_for_each_of_the_users_days(reporter):
    make_incident(reporter=reporter, created_at=datetime(2026, 3, 20, 1, 0, tzinfo=UTC))
    make_incident(reporter=reporter, created_at=datetime(2026, 3, 19, 23, 30, tzinfo=UTC))
    make_incident(reporter=reporter, created_at=datetime(2026, 2, 18, 12, 0, tzinfo=UTC))
    with timezone.override("UTC"):
        chart = dashboard.daily_chart(dashboard.recent_groups(today=date(2026, 3, 20)), today=date(2026, 3, 20))
    assert len(chart.bars) == 30
    assert chart.bars[0].day == date(2026, 2, 19)
    assert [(bar.day, bar.count) for bar in chart.bars[-2:]] == [(date(2026, 3, 19), 1), (date(2026, 3, 20), 1)]
    assert (chart.total, chart.peak) == (2, 1)
    assert chart.bars[-1].height == dashboard.PLOT_BOTTOM - dashboard.PLOT_TOP
    assert chart.bars[0].height == 0
    with timezone.override("Asia/Tokyo"):
        tokyo = dashboard.daily_chart(dashboard.recent_groups(today=date(2026, 3, 20)), today=date(2026, 3, 20))
    assert [(bar.day, bar.count) for bar in tokyo.bars[-1:]] == [(date(2026, 3, 20), 2)]


def test_empty_chart_draws_zero_height_bars():
    chart = dashboard.daily_chart([], today=date(2026, 3, 20))
    assert {bar.height for bar in chart.bars} == {0}
    assert chart.ticks == [(0, dashboard.PLOT_BOTTOM), (1, dashboard.PLOT_TOP)]


@pytest.mark.parametrize(("peak", "ticks"), [(1, [0, 1]), (3, [0, 1, 2, 3]), (4, [0, 1, 2, 3, 4]), (5, [0, 2, 4, 6]),
                                             (17, [0, 5, 10, 15, 20])])
def test_chart_gridlines_are_whole_numbers_up_to_the_peak(reporter, peak, ticks):
    day = datetime(2026, 3, 20, 10, 0, tzinfo=UTC)
    for _ in range(peak):
        make_incident(reporter=reporter, created_at=day)
    with timezone.override("UTC"):
        chart = dashboard.daily_chart(dashboard.recent_groups(today=date(2026, 3, 20)), today=date(2026, 3, 20))
    assert [value for value, _y in chart.ticks] == ticks
    assert chart.ticks[-1][1] <= chart.bars[-1].y


@pytest.mark.parametrize(
    ("span", "text"),
    [(None, "–"), (timedelta(seconds=59), "0 min"), (timedelta(minutes=45), "45 min"),
     (timedelta(hours=3, minutes=20), "3 h 20 min"), (timedelta(days=2, hours=4, minutes=5), "2 d 4 h")],
)
def test_durations_read_at_a_glance(span, text):
    assert duration(span) == text


@time_machine.travel(NOW, tick=False)
def test_responder_dashboard_shows_queues_figures_and_chart(responder_client, reporter, responder):
    make_incident(reporter=reporter, title="Nobody owns me", severity=Severity.SEV1, created_at=NOW - timedelta(hours=1))
    make_incident(reporter=reporter, title="Mine to fix", assignee=responder, status=Status.IN_PROGRESS,
                  created_at=NOW - timedelta(hours=3), acknowledged_at=NOW - timedelta(hours=2))
    make_incident(reporter=reporter, title="Long gone", status=Status.CLOSED)
    response = responder_client.get(reverse("dashboard"))
    page = response.content.decode()
    assert response.status_code == 200
    unassigned, queue = response.context["unassigned"], response.context["my_queue"]
    assert [incident["title"] for incident in unassigned] == ["Nobody owns me"]
    assert [incident["title"] for incident in queue] == ["Mine to fix"]
    assert response.context["grid"].total == 3
    assert "Incidents by severity and status" in page
    assert "1 h 0 min" in page
    assert '<svg viewBox="0 0 960 220" role="img"' in page
    assert "Incidents per day as a table" in page
    assert "<th scope=\"row\">Fri 20 Mar 2026</th><td>3</td>" in page
    assert "My open reports" not in page


def test_each_queue_keeps_its_own_order_and_only_its_first_five(responder_client, responder):
    """One round trip on PostgreSQL, one query per queue on SQLite: the same rows, in the same order."""
    start = timezone.now() - timedelta(days=10)
    for number in range(12):
        make_incident(reporter=responder, title=f"Incident {number}", severity=Severity.values[number % 4],
                      assignee=responder if number % 3 == 0 else None, created_at=start + timedelta(hours=number),
                      updated_at=start + timedelta(hours=30 - number))
    context = responder_client.get(reverse("dashboard")).context
    by_urgency = Incident.objects.order_by("severity", "created_at", "id")
    expected = {
        "my_open": Incident.objects.order_by("-created_at", "-id"),
        "recently_updated": Incident.objects.order_by("-updated_at", "-id"),
        "unassigned": by_urgency.filter(assignee__isnull=True),
        "my_queue": by_urgency.filter(assignee=responder),
    }
    for queue, ordered in expected.items():
        assert [row["title"] for row in context[queue]] == [row.title for row in ordered[:5]], queue


def test_dashboard_queries_do_not_grow_with_rows(responder_client, reporter, responder):
    make_incident(reporter=reporter, title="Incident first", assignee=responder)
    with_one = rendered_page_queries(responder_client, reverse("dashboard"), shows="Incident first")
    for number in range(30):
        make_incident(reporter=reporter, title=f"Incident {number}", assignee=responder if number % 2 else None)
    assert rendered_page_queries(responder_client, reverse("dashboard"), shows="Incident 0") == with_one


def test_reporter_dashboard_shows_only_their_reports_and_no_figures(reporter_client, reporter, other_reporter):
    make_incident(reporter=reporter, title="My printer")
    make_incident(reporter=reporter, title="My old laptop", status=Status.CLOSED)
    make_incident(reporter=other_reporter, title="Not mine")
    response = reporter_client.get(reverse("dashboard"))
    page = response.content.decode()
    assert [incident["title"] for incident in response.context["my_open"]] == ["My printer"]
    assert [incident["title"] for incident in response.context["recently_updated"]] == ["My old laptop", "My printer"]
    assert "Not mine" not in page
    assert "Unassigned queue" not in page and "<svg" not in page and "grid" not in response.context


def test_new_reporter_sees_friendly_empty_states(db):
    page = signed_in(make_user(username="newbie")).get(reverse("dashboard")).content.decode()
    assert "You have no open reports." in page
    assert "updates to incidents you report show up here" in page


def test_anonymous_visitor_is_sent_to_sign_in(client):
    response = client.get(reverse("dashboard"))
    assert response.status_code == 302
    assert response["Location"] == f"{reverse('accounts:login')}?next=/"


def test_responders_figures_follow_every_committed_write_to_an_incident(
        responder_client, admin_client, reporter, responder, django_capture_on_commit_callbacks):
    def figures(client):
        context = client.get(reverse("dashboard")).context
        return context["grid"].total, context["chart"].total, context["response_times"][0].acknowledged

    with django_capture_on_commit_callbacks(execute=True):
        incident, _ = incident_create(reporter=reporter, title="Counted", description="x", severity=Severity.SEV1)
    assert figures(responder_client) == (1, 1, 0)
    with django_capture_on_commit_callbacks(execute=True):
        incident_create(reporter=reporter, title="Counted too", description="y")
    assert figures(admin_client) == (2, 2, 0), "a report is counted at once, by every responder"
    with django_capture_on_commit_callbacks(execute=True):
        incident_transition(incident, actor=responder, name="start")
    assert figures(responder_client) == (2, 2, 1), "an acknowledgement is counted at once"


def test_the_generation_changes_once_an_incident_write_commits(responder, reporter, django_capture_on_commit_callbacks):
    before = caching.incidents_generation()
    with django_capture_on_commit_callbacks() as waiting:
        incident_create(reporter=reporter, title="Counted", description="x")
        assert caching.incidents_generation() == before, "a page rendered before the commit keeps the old key"
    for callback in waiting:
        callback()
    assert caching.incidents_generation() != before


def test_a_lost_generation_is_made_anew_never_reused():
    before = caching.incidents_generation()
    cache.delete(caching.GENERATION_KEY)
    assert caching.incidents_generation() not in (before, "None")


def test_sign_ins_and_comments_keep_the_figures(client, responder, reporter, django_capture_on_commit_callbacks):
    incident = make_incident(reporter=reporter)
    before = caching.incidents_generation()
    with django_capture_on_commit_callbacks(execute=True):
        signed_in = client.post(reverse("accounts:login"), {"username": "reporter", "password": DEFAULT_PASSWORD})
        comment_add(incident, author=reporter, body="Still down")
    assert signed_in.status_code == 302
    assert caching.incidents_generation() == before


def test_responders_figures_are_drawn_once_per_generation(responder_client, reporter):
    make_incident(reporter=reporter, title="Counted")
    assert "Incidents per day" in responder_client.get(reverse("dashboard")).content.decode()
    with CaptureQueriesContext(connection) as again:
        kept = responder_client.get(reverse("dashboard"))
    assert "Incidents per day" in kept.content.decode()
    assert not any("acknowledged_at" in query["sql"] for query in again), \
        "the last days are read from the database only when their fragment is missing"


def test_queues_follow_every_committed_write(
        responder_client, responder, reporter, django_capture_on_commit_callbacks):
    def queue_titles(heading_id):
        page = responder_client.get(reverse("dashboard")).content.decode()
        section = page.split(f'aria-labelledby="{heading_id}"', 1)[1].split("</section>", 1)[0]
        return re.findall(r'<td class="cell-title"><a href="[^"]+">([^<]*)</a>', section)

    assert queue_titles("unassigned-title") == []
    with django_capture_on_commit_callbacks(execute=True):
        incident = make_incident(reporter=reporter, title="Badge reader dead")
    assert queue_titles("unassigned-title") == ["Badge reader dead"]
    with django_capture_on_commit_callbacks(execute=True):
        incident_update(incident, actor=responder, expected_version=incident.version, assignee=responder)
    assert queue_titles("unassigned-title") == [] and queue_titles("queue-title") == ["Badge reader dead"]


def test_queues_are_each_readers_own(responder_client, responder, reporter):
    other = make_user(username="other-responder", is_staff=True)
    make_incident(reporter=reporter, title="Mine", assignee=responder)
    make_incident(reporter=reporter, title="Theirs", assignee=other)
    assert [row["title"] for row in responder_client.get(reverse("dashboard")).context["my_queue"]] == ["Mine"]
    assert [row["title"] for row in signed_in_verified(other).get(reverse("dashboard")).context["my_queue"]] == ["Theirs"]
