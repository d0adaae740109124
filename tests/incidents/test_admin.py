"""The back office: categories audited like every other change, incidents triaged in bulk but never deleted."""
from __future__ import annotations

import pytest
from django.urls import reverse

from audit.models import Action, AuditLog
from incidents.models import Category, Incident
from incidents.workflow import Status
from tests.factories import make_category, make_comment, make_incident

pytestmark = pytest.mark.django_db


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


@pytest.mark.parametrize(
    "params",
    [{}, {"q": "VPN"}, {"status__exact": "open"}, {"severity__exact": "1"}, {"created_at__year": "2026"},
     {"category__id__exact": "1"}],
)
def test_incident_changelist_search_filters_and_date_hierarchy_render(admin_client, reporter, params):
    make_incident(reporter=reporter, title="VPN down", severity=1)
    response = admin_client.get(changelist("incident"), params)
    assert response.status_code == 200


def test_incident_changelist_search_finds_by_title(admin_client, reporter):
    make_incident(reporter=reporter, title="VPN down")
    make_incident(reporter=reporter, title="Printer jams")
    response = admin_client.get(changelist("incident"), {"q": "vpn"})
    assert [incident.title for incident in response.context["cl"].result_list] == ["VPN down"]


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
    assert AuditLog.objects.get(action=Action.INCIDENT_ASSIGNED).changes == {"assignee": [None, "responder"]}
    comment.refresh_from_db()
    assert comment.body == "<p>Original</p>"


def test_admin_reports_an_incident_on_someones_behalf(admin_client, admin_user, reporter, responder):
    response = admin_client.post(reverse("admin:incidents_incident_add"), {
        "title": "Phoned in: VPN down", "description": "<p>Caller in Leeds</p>", "severity": 2, "category": "",
        "reporter": reporter.pk, "assignee": responder.pk,
        "comments-TOTAL_FORMS": 0, "comments-INITIAL_FORMS": 0,
    })
    assert response.status_code == 302
    incident = Incident.objects.get()
    assert (incident.reporter, incident.assignee, incident.status) == (reporter, responder, Status.OPEN)
    assert AuditLog.objects.get(action=Action.INCIDENT_REPORTED).actor == reporter
    assert AuditLog.objects.get(action=Action.INCIDENT_ASSIGNED).actor == admin_user


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
