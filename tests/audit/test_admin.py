from __future__ import annotations

import re

import pytest
from django.urls import reverse

from audit.models import Action, AuditLog
from audit.services import audit_record
from tests.factories import make_category

pytestmark = pytest.mark.django_db


@pytest.fixture
def entry(admin_user):
    return audit_record(Action.CATEGORY_CREATED, actor=admin_user, target=make_category(name="Network"),
                        changes={"name": [None, "Network"]})


def test_admin_lists_and_shows_rows_read_only(admin_client, entry):
    listing = admin_client.get(reverse("admin:audit_auditlog_changelist"))
    assert listing.status_code == 200
    assert "Network" in listing.content.decode()
    detail = admin_client.get(reverse("admin:audit_auditlog_change", args=[entry.pk]))
    assert detail.status_code == 200
    page = detail.content.decode()
    assert entry.entry_hash in page
    assert 'name="_save"' not in page
    assert "Delete" not in page


def test_admin_cannot_add_change_or_delete_rows(admin_client, entry):
    before = list(AuditLog.objects.values())
    assert admin_client.get(reverse("admin:audit_auditlog_add")).status_code == 403
    assert admin_client.post(reverse("admin:audit_auditlog_add"), {"action": "user.deleted"}).status_code == 403
    assert admin_client.post(reverse("admin:audit_auditlog_change", args=[entry.pk]),
                             {"target_label": "rewritten"}).status_code == 403
    assert admin_client.post(reverse("admin:audit_auditlog_delete", args=[entry.pk]), {"post": "yes"}).status_code == 403
    bulk = admin_client.post(reverse("admin:audit_auditlog_changelist"),
                             {"action": "delete_selected", "_selected_action": [entry.pk], "post": "yes"})
    assert bulk.status_code in (200, 302)
    assert list(AuditLog.objects.values()) == before


def test_admin_offers_no_bulk_actions(admin_client, entry):
    listing = admin_client.get(reverse("admin:audit_auditlog_changelist"))
    assert "delete_selected" not in listing.content.decode()


@pytest.mark.parametrize(
    "query",
    ["action__exact=category.created", "actor__id__exact={actor}", "actor__isnull=True", "target_type=incidents.category",
     "created_at__gte=2000-01-01+00%3A00%2B00%3A00&created_at__lt=2100-01-01+00%3A00%2B00%3A00", "q=Network", "q=admin"],
)
def test_admin_filters_and_search_find_the_row(admin_client, admin_user, entry, query):
    response = admin_client.get(reverse("admin:audit_auditlog_changelist") + "?" + query.format(actor=admin_user.pk))
    assert response.status_code == 200
    found = "Network" in response.content.decode()
    assert found is (query != "actor__isnull=True")


@pytest.mark.parametrize("query", ["action__exact=user.deleted", "target_type=incidents.incident"])
def test_admin_filter_that_matches_nothing_shows_nothing(admin_client, entry, query):
    response = admin_client.get(reverse("admin:audit_auditlog_changelist") + "?" + query)
    assert response.status_code == 200
    assert "Network" not in response.content.decode()


def test_admin_target_type_filter_offers_each_audited_kind_of_record_by_name(admin_client, entry):
    """The apps register their own models for the filter; the audit app names none of them."""
    page = admin_client.get(reverse("admin:audit_auditlog_changelist")).content.decode()
    offered = re.findall(r'href="\?target_type=([a-z_.]+)"', page)
    assert offered == ["api.alertintegration", "incidents.category", "outbound.delivery", "oncall.escalationpolicy",
                       "oncall.escalationrule", "incidents.incident", "oncall.override", "oncall.rotation",
                       "oncall.schedule", "outbound.subscription", "accounts.user"]
