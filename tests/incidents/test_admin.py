"""The back office: categories audited like every other change, incidents triaged in bulk but never deleted."""
from __future__ import annotations

from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager
from datetime import timedelta

import pytest
from django.core import mail
from django.db import connection
from django.http import HttpResponse
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from accounts.models import User
from audit.models import Action, AuditLog
from common.paging import CappedCountPaginator
from incidents.admin import IncidentAdmin
from incidents.models import Category, Incident
from incidents.workflow import Status
from tests.conftest import signed_in
from tests.factories import make_category, make_comment, make_incident, make_incidents, make_user

pytestmark = pytest.mark.django_db

# What a page may cost whatever its rows: the session, the user and their second factor
# (unless cached), the count, the page's rows with their related rows, and the category
# filter's choices (the form: the incident, then its comments with their authors).
INCIDENT_CHANGELIST_QUERIES = 7
COMMENT_CHANGELIST_QUERIES = 6
INCIDENT_FORM_QUERIES = 7


def changelist(model: str) -> str:
    return reverse(f"admin:incidents_{model}_changelist")


def test_admin_adds_a_category_and_it_is_audited(admin_client, admin_user):
    response = admin_client.post(reverse("admin:incidents_category_add"),
                                 {"name": "Network", "description": "VPN, DNS", "is_active": "on"})
    assert response.status_code == 302
    category = Category.objects.get()
    entry = AuditLog.objects.get(action=Action.CATEGORY_CREATED)
    assert (entry.actor, entry.target_id) == (admin_user, str(category.pk))
    assert entry.changes["name"] == [None, "Network"]


def test_admin_changes_a_category_and_only_the_change_is_audited(admin_client):
    category = make_category(name="Network", description="VPN")
    response = admin_client.post(reverse("admin:incidents_category_change", args=[category.pk]),
                                 {"name": "Network", "description": "VPN"})
    assert response.status_code == 302
    category.refresh_from_db()
    assert not category.is_active
    assert AuditLog.objects.get(action=Action.CATEGORY_CHANGED).changes == {"is_active": [True, False]}


@pytest.mark.parametrize("name", ["network", "<b>Network</b>"])
def test_admin_is_told_when_a_category_name_is_taken(admin_client, name):
    make_category(name="Network")
    response = admin_client.post(reverse("admin:incidents_category_add"), {"name": name, "is_active": "on"})
    assert response.status_code == 200
    assert "A category with this name already exists." in response.content.decode()
    assert Category.objects.count() == 1
    assert not AuditLog.objects.filter(target_type="incidents.category").exists()


def test_admin_deletes_a_category_and_it_is_audited(admin_client, admin_user):
    category = make_category(name="Old")
    response = admin_client.post(reverse("admin:incidents_category_delete", args=[category.pk]), {"post": "yes"})
    assert response.status_code == 302
    assert not Category.objects.exists()
    entry = AuditLog.objects.get(action=Action.CATEGORY_DELETED)
    assert (entry.actor, entry.changes) == (admin_user, {"name": ["Old", None]})


def test_admin_bulk_deletes_categories_each_audited(admin_client):
    make_category(name="Old")
    make_category(name="Older")
    response = admin_client.post(changelist("category"), {
        "action": "delete_selected", "_selected_action": list(Category.objects.values_list("pk", flat=True)),
        "post": "yes",
    })
    assert response.status_code == 302
    assert not Category.objects.exists()
    assert AuditLog.objects.filter(action=Action.CATEGORY_DELETED).count() == 2


def test_a_category_in_use_cannot_be_deleted(admin_client, reporter):
    category = make_category(name="Network")
    make_incident(reporter=reporter, category=category)
    response = admin_client.post(reverse("admin:incidents_category_delete", args=[category.pk]), {"post": "yes"})
    assert "Cannot delete category" in response.content.decode()
    assert Category.objects.exists()


@pytest.fixture
def triage_board(reporter, responder):
    """Three incidents that differ in every column the incident list filters on."""
    network, hardware = make_category(name="Network"), make_category(name="Hardware")
    now = timezone.now()
    return {
        "VPN down": make_incident(reporter=reporter, title="VPN down", severity=1, category=network, created_at=now),
        "Printer jams": make_incident(reporter=reporter, title="Printer jams", status=Status.IN_PROGRESS,
                                      category=hardware, assignee=responder, created_at=now - timedelta(days=30)),
        "Payroll totals wrong": make_incident(reporter=reporter, title="Payroll totals wrong", severity=2,
                                              status=Status.CLOSED, description="<p>Every payslip is short.</p>",
                                              created_at=now - timedelta(days=400)),
    }


def shown(response: HttpResponse, titles: Iterable[str]) -> set[str]:
    """Which of `titles` the page names."""
    page = response.content.decode()
    return {title for title in titles if title in page}


@pytest.mark.parametrize("params,expected", [
    ({}, {"VPN down", "Printer jams", "Payroll totals wrong"}),
    ({"q": "vpn"}, {"VPN down"}),
    ({"q": "payslip"}, {"Payroll totals wrong"}),
    ({"status__exact": "in_progress"}, {"Printer jams"}),
    ({"severity__exact": "1"}, {"VPN down"}),
    ({"category__id__exact": "Network"}, {"VPN down"}),
    ({"category__isnull": "True"}, {"Payroll totals wrong"}),
    ({"created_at__gte": "week ago", "created_at__lt": "tomorrow"}, {"VPN down"}),
    ({"created_at__gte": "year ago", "created_at__lt": "tomorrow", "status__exact": "open"}, {"VPN down"}),
    ({"q": "printer", "status__exact": "open"}, set()),
])
def test_incident_changelist_shows_the_rows_its_search_and_filters_select(admin_client, triage_board, params, expected):
    # Midnights in the current time zone, as the admin's date filter writes them.
    today = timezone.localtime().replace(hour=0, minute=0, second=0, microsecond=0)
    dates = {"week ago": today - timedelta(days=7), "year ago": today - timedelta(days=365),
             "tomorrow": today + timedelta(days=1)}
    categories = {category.name: str(category.pk) for category in Category.objects.all()}
    query = {name: str(dates.get(value, categories.get(value, value))) for name, value in params.items()}
    response = admin_client.get(changelist("incident"), query)
    assert response.status_code == 200
    assert shown(response, triage_board) == expected


def test_incident_changelist_offers_date_ranges_instead_of_a_date_hierarchy(admin_client, triage_board):
    """The hierarchy's `dates()` aggregate reads every row; the range filter reads the created_at index."""
    page = admin_client.get(changelist("incident")).content.decode()
    assert 'class="toplinks"' not in page
    assert "Past 7 days" in page and "This year" in page


@pytest.mark.parametrize("model,query", [
    ("incident", "reporter__password__startswith=a"),
    ("incident", "assignee__password__startswith="),
    ("incident", "reporter__password__regex=.%2A"),
    ("incident", "reporter__email__contains=%40"),
    ("incident", "assignee__is_superuser=True"),
    ("comment", "author__password__startswith=a"),
    ("comment", "incident__reporter__password__startswith=a"),
])
def test_admin_refuses_lookups_it_does_not_offer(admin_client, triage_board, reporter, responder, model, query):
    """A filter on a column the admin does not offer could read a password hash a character at a time."""
    for incident in triage_board.values():
        make_comment(incident=incident, author=responder, body="<p>Checked the logs.</p>")
    response = admin_client.get(f"{changelist(model)}?{query}")
    assert response.status_code == 400
    page = response.content.decode()
    assert shown(response, triage_board) == set()
    assert "Checked the logs" not in page
    assert reporter.password not in page and "argon2" not in page


def test_capped_count_says_more_than_and_offers_no_select_all(admin_client, reporter, monkeypatch):
    monkeypatch.setattr(CappedCountPaginator, "count_cap", 2)
    monkeypatch.setattr(IncidentAdmin, "list_per_page", 1)
    make_incidents(3, reporter=reporter)
    page = admin_client.get(changelist("incident")).content.decode()
    assert "More than 2 incidents" in page
    assert "Select all 2" not in page
    assert "Incident 2" in page and "Incident 1" not in page
    searched = admin_client.get(changelist("incident"), {"q": "incident"}).content.decode()
    assert "More than 2 results" in searched
    # Past the pages of the rows counted, the admin says the page is not there.
    assert admin_client.get(changelist("incident"), {"p": "3"})["Location"] == f"{changelist('incident')}?e=1"


def test_count_under_the_cap_is_exact(admin_client, reporter, monkeypatch):
    monkeypatch.setattr(CappedCountPaginator, "count_cap", 2)
    monkeypatch.setattr(IncidentAdmin, "list_per_page", 1)
    make_incidents(2, reporter=reporter)
    page = admin_client.get(changelist("incident")).content.decode()
    assert "2 incidents" in page and "More than" not in page
    assert "Select all 2 incidents" in page


def test_search_finds_a_word_of_the_description(admin_client, reporter):
    make_incident(reporter=reporter, title="Laptop slow", description="<p>The firmware update stalls.</p>")
    make_incident(reporter=reporter, title="Mail bouncing")
    response = admin_client.get(changelist("incident"), {"q": "firmware"})
    assert shown(response, ["Laptop slow", "Mail bouncing"]) == {"Laptop slow"}


@pytest.mark.postgresql
def test_search_reads_the_full_text_document_public_comments_in_and_internal_notes_out(admin_client, reporter, responder):
    """The admin reads the same document as the site's search: title, description, public comments."""
    public = make_incident(reporter=reporter, title="Laptop slow")
    noted = make_incident(reporter=reporter, title="Mail bouncing")
    make_comment(incident=public, author=responder, body="<p>The kerberos ticket expired.</p>")
    make_comment(incident=noted, author=responder, body="<p>Bastion host rebooted.</p>", internal=True)
    titles = ["Laptop slow", "Mail bouncing"]
    assert shown(admin_client.get(changelist("incident"), {"q": "kerberos"}), titles) == {"Laptop slow"}
    assert shown(admin_client.get(changelist("incident"), {"q": "bastion"}), titles) == set()
    # Stemmed, as on the site: "expiring" finds "expired".
    assert shown(admin_client.get(changelist("incident"), {"q": "expiring"}), titles) == {"Laptop slow"}


def test_comment_search_finds_internal_notes_and_parts_of_words(admin_client, reporter, responder):
    incident = make_incident(reporter=reporter)
    make_comment(incident=incident, author=responder, body="<p>Bastion host rebooted.</p>", internal=True)
    make_comment(incident=incident, author=reporter, body="<p>Still broken for me.</p>")
    for term in ("bastion", "REBOOT"):
        page = admin_client.get(changelist("comment"), {"q": term}).content.decode()
        assert "1 result" in page, term
    page = admin_client.get(changelist("comment"), {"q": "broken"}).content.decode()
    assert "1 result" in page


def queries_for(client: Client, address: str, expected: str) -> int:
    """The queries of one rendered page that shows `expected`."""
    with CaptureQueriesContext(connection) as queries:
        response = client.get(address)
    assert response.status_code == 200
    assert expected in response.content.decode()
    return len(queries)


def few_and_many(client: Client, address: str, add_rows: Callable[[int, int], None], row_name: str,
                 limit: Callable[[int], AbstractContextManager[object]], bound: int) -> tuple[int, int]:
    """
    The queries of a page showing 3 rows, then 30: rows 0-2, then 3-29, added by
    `add_rows(first, stop)`, the last one named `{row_name}{number}`. A first request
    warms the caches of what no row changes (content types, the signed-in user).
    """
    add_rows(0, 3)
    client.get(address)
    with limit(bound):
        few = queries_for(client, address, f"{row_name}2<")
    add_rows(3, 30)
    with limit(bound):
        many = queries_for(client, address, f"{row_name}29<")
    return few, many


def people(role: str) -> list[User]:
    """Thirty users, made before any page is measured, so each row can name its own (by display name)."""
    return [make_user(username=f"{role}{number}", first_name=f"{role}{number}") for number in range(30)]


def test_incident_changelist_queries_do_not_grow_with_rows(admin_client, django_assert_max_num_queries):
    """Each row names its own category, reporter and assignee, all read by the page's one query."""
    reporters, assignees = people("reporter"), people("assignee")
    categories = [make_category(name=f"Category {number}") for number in range(30)]

    def add_rows(first: int, stop: int) -> None:
        for number in range(first, stop):
            make_incident(reporter=reporters[number], assignee=assignees[number], category=categories[number],
                          title=f"Incident {number}")

    few, many = few_and_many(admin_client, changelist("incident"), add_rows, "Incident ", django_assert_max_num_queries,
                             INCIDENT_CHANGELIST_QUERIES)
    assert few == many


def test_comment_changelist_queries_do_not_grow_with_rows(admin_client, reporter, django_assert_max_num_queries):
    authors = people("author")

    def add_rows(first: int, stop: int) -> None:
        for number in range(first, stop):
            make_comment(incident=make_incident(reporter=reporter, title=f"Incident {number}"), author=authors[number])

    few, many = few_and_many(admin_client, changelist("comment"), add_rows, "author", django_assert_max_num_queries,
                             COMMENT_CHANGELIST_QUERIES)
    assert few == many


def test_incident_form_queries_do_not_grow_with_its_comments(admin_client, reporter, django_assert_max_num_queries):
    incident = make_incident(reporter=reporter)
    authors = people("author")

    def add_rows(first: int, stop: int) -> None:
        for number in range(first, stop):
            make_comment(incident=incident, author=authors[number], body=f"<p>Note {number}</p>")

    address = reverse("admin:incidents_incident_change", args=[incident.pk])
    few, many = few_and_many(admin_client, address, add_rows, "author", django_assert_max_num_queries,
                             INCIDENT_FORM_QUERIES)
    assert few == many


def test_admin_assigns_selected_incidents_to_themselves(admin_client, admin_user, reporter):
    incidents = [make_incident(reporter=reporter), make_incident(reporter=reporter, status=Status.IN_PROGRESS)]
    response = admin_client.post(changelist("incident"), {
        "action": "assign_to_me", "_selected_action": [incident.pk for incident in incidents],
    }, follow=True)
    assert "2 incident(s) assigned to you." in response.content.decode()
    assert set(Incident.objects.values_list("assignee", flat=True)) == {admin_user.pk}
    assert AuditLog.objects.filter(action=Action.INCIDENT_ASSIGNED, actor=admin_user).count() == 2


def test_admin_closes_selected_incidents_through_every_workflow_step(admin_client, admin_user, reporter):
    open_one = make_incident(reporter=reporter)
    resolved = make_incident(reporter=reporter, status=Status.RESOLVED)
    already = make_incident(reporter=reporter, status=Status.CLOSED)
    response = admin_client.post(changelist("incident"), {
        "action": "close_incidents", "_selected_action": [open_one.pk, resolved.pk, already.pk],
    }, follow=True)
    assert "2 incident(s) closed." in response.content.decode()
    for incident in (open_one, resolved):
        incident.refresh_from_db()
        assert incident.status == Status.CLOSED
        assert incident.closed_at is not None
    open_one.refresh_from_db()
    assert open_one.acknowledged_at is not None
    transitions = AuditLog.objects.filter(action=Action.INCIDENT_TRANSITIONED, target_id=str(open_one.pk))
    assert [entry.changes["transition"][1] for entry in transitions.order_by("sequence")] == ["start", "resolve", "close"]


def test_incidents_cannot_be_deleted_from_the_admin(admin_client, reporter):
    incident = make_incident(reporter=reporter)
    assert admin_client.get(reverse("admin:incidents_incident_delete", args=[incident.pk])).status_code == 403
    actions = admin_client.get(changelist("incident")).context["action_form"].fields["action"].choices
    assert "delete_selected" not in [name for name, _label in actions]
    assert Incident.objects.exists()


def test_incident_change_page_shows_comments_read_only(admin_client, reporter, responder):
    incident = make_incident(reporter=reporter)
    make_comment(incident=incident, author=responder, body="<p>Firewall rule missing</p>", internal=True)
    response = admin_client.get(reverse("admin:incidents_incident_change", args=[incident.pk]))
    page = response.content.decode()
    assert response.status_code == 200
    assert "Firewall rule missing" in page
    assert 'name="comments-0-body"' not in page
    assert 'name="comments-0-DELETE"' not in page


def test_admin_edits_an_incident_through_the_audited_service(admin_client, admin_user, reporter, responder):
    incident = make_incident(reporter=reporter, title="VPN down", description="<p>x</p>")
    comment = make_comment(incident=incident, author=reporter, body="<p>Original</p>")
    response = admin_client.post(reverse("admin:incidents_incident_change", args=[incident.pk]), {
        "title": "VPN down in Leeds", "description": "<p>x</p>", "severity": 1, "category": "",
        "assignee": responder.pk,
        "comments-TOTAL_FORMS": 1, "comments-INITIAL_FORMS": 1, "comments-0-id": comment.pk,
        "comments-0-incident": incident.pk, "comments-0-body": "Rewritten",
    })
    assert response.status_code == 302
    incident.refresh_from_db()
    assert (incident.title, incident.severity, incident.assignee, incident.version) == ("VPN down in Leeds", 1, responder, 2)
    edited = AuditLog.objects.get(action=Action.INCIDENT_EDITED)
    assert edited.actor == admin_user
    assert edited.changes == {"title": ["VPN down", "VPN down in Leeds"], "severity": ["SEV3 – medium", "SEV1 – critical"]}
    assert AuditLog.objects.get(action=Action.INCIDENT_ASSIGNED).changes == {"assignee": [None, str(responder)]}
    comment.refresh_from_db()
    assert comment.body == "<p>Original</p>"


def test_admin_reports_an_incident_on_someones_behalf(admin_client, admin_user, reporter, responder,
                                                      django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(reverse("admin:incidents_incident_add"), {
            "title": "Phoned in: VPN down", "description": "<p>Caller in Leeds</p>", "severity": 3, "category": "",
            "reporter": reporter.pk, "assignee": responder.pk,
            "comments-TOTAL_FORMS": 0, "comments-INITIAL_FORMS": 0,
        })
    assert response.status_code == 302
    incident = Incident.objects.get()
    assert (incident.reporter, incident.assignee, incident.status) == (reporter, responder, Status.OPEN)
    reported = AuditLog.objects.get(action=Action.INCIDENT_REPORTED)
    assert reported.actor == admin_user, "the administrator is named as the one who acted"
    assert reported.changes["on_behalf_of"] == [None, str(reporter)]
    assert AuditLog.objects.get(action=Action.INCIDENT_ASSIGNED).actor == admin_user
    told = [message for message in mail.outbox if message.to == ["reporter@example.com"]]
    assert len(told) == 1 and told[0].subject == f"[Incident #{incident.pk}] Reported in your name"
    assert f"{admin_user} reported this incident in your name" in told[0].body
    timeline = signed_in(reporter).get(reverse("incidents:detail", args=[incident.pk])).content.decode()
    assert f"reported this incident on behalf of {reporter}" in " ".join(timeline.split())
    assert f"<strong>{admin_user}</strong>" in timeline


def test_comments_cannot_be_added_or_changed_in_the_admin(admin_client, reporter):
    comment = make_comment(incident=make_incident(reporter=reporter), author=reporter, body="<p>Original</p>")
    assert admin_client.get(reverse("admin:incidents_comment_add")).status_code == 403
    response = admin_client.post(reverse("admin:incidents_comment_change", args=[comment.pk]), {"body": "Rewritten"})
    assert response.status_code == 403
    comment.refresh_from_db()
    assert comment.body == "<p>Original</p>"
    assert admin_client.get(changelist("comment")).status_code == 200


def test_back_office_is_closed_to_reporters(reporter_client):
    response = reporter_client.get(changelist("incident"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))
