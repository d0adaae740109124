"""User and category changes made through the admin each leave exactly one audit row."""
from __future__ import annotations

import json

import pytest
from django.contrib.auth.models import Group
from django.urls import reverse

from accounts.models import User
from audit.models import Action, AuditLog
from incidents.models import Category
from tests.factories import make_category, make_incident, make_user

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "quartz-lantern-meadow-9"


def rows(action: Action) -> list[AuditLog]:
    return list(AuditLog.objects.filter(action=action))


def change_form_data(user: User, **overrides: object) -> dict[str, object]:
    """What the admin's change form posts back for `user` untouched, plus `overrides`."""
    data: dict[str, object] = {
        "username": user.username, "first_name": user.first_name, "last_name": user.last_name, "email": user.email,
        "date_joined_0": user.date_joined.strftime("%Y-%m-%d"), "date_joined_1": user.date_joined.strftime("%H:%M:%S"),
        "last_login_0": "", "last_login_1": "", "groups": [], "user_permissions": [],
    }
    data.update({flag: "on" for flag in ("is_active", "is_staff", "is_superuser") if getattr(user, flag)})
    data.update(overrides)
    return data


def test_admin_creates_a_user_recorded_once_without_the_password(admin_client, admin_user):
    response = admin_client.post(reverse("admin:accounts_user_add"), {
        "username": "newbie", "usable_password": "true", "password1": NEW_PASSWORD, "password2": NEW_PASSWORD,
    })
    assert response.status_code == 302
    user = User.objects.get(username="newbie")
    [row] = rows(Action.USER_CREATED)
    assert (row.actor, row.target_type, row.target_id, row.target_label) == (
        admin_user, "accounts.user", str(user.pk), "newbie")
    assert row.changes["username"] == [None, "newbie"]
    assert row.changes["password"] == "set"
    assert user.password not in json.dumps(row.changes) and NEW_PASSWORD not in json.dumps(row.changes)


def test_admin_changes_a_user_recorded_once_with_only_the_changed_fields(admin_client, admin_user):
    user = make_user(username="alice", first_name="Alice")
    oncall = Group.objects.create(name="On call")
    response = admin_client.post(reverse("admin:accounts_user_change", args=[user.pk]),
                                 change_form_data(user, first_name="Alicia", is_staff="on", groups=[oncall.pk]))
    assert response.status_code == 302
    [row] = rows(Action.USER_CHANGED)
    assert (row.actor, row.target_id) == (admin_user, str(user.pk))
    assert row.changes == {"first_name": ["Alice", "Alicia"], "is_staff": [False, True], "groups": [[], ["On call"]]}
    user.refresh_from_db()
    assert user.is_staff and list(user.groups.all()) == [oncall]


def test_saving_a_user_unchanged_records_nothing(admin_client):
    user = make_user(username="alice")
    response = admin_client.post(reverse("admin:accounts_user_change", args=[user.pk]), change_form_data(user))
    assert response.status_code == 302
    assert not rows(Action.USER_CHANGED)


def test_invalid_user_change_is_refused_and_records_nothing(admin_client):
    user = make_user(username="alice")
    make_user(username="bob")
    response = admin_client.post(reverse("admin:accounts_user_change", args=[user.pk]),
                                 change_form_data(user, username="bob", email="not an address"))
    assert response.status_code == 200
    assert "A user with that username already exists." in response.content.decode()
    assert User.objects.get(pk=user.pk).username == "alice"
    assert not rows(Action.USER_CHANGED)


def test_admin_sets_a_password_recorded_as_changed_only(admin_client, admin_user, mailoutbox,
                                                        django_capture_on_commit_callbacks):
    user = make_user(username="alice")
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(reverse("admin:auth_user_password_change", args=[user.pk]),
                                     {"usable_password": "true", "password1": NEW_PASSWORD, "password2": NEW_PASSWORD,
                                      "set-password": "Change password"})
    assert response.status_code == 302
    user.refresh_from_db()
    assert user.check_password(NEW_PASSWORD)
    [row] = rows(Action.USER_CHANGED)
    assert (row.actor, row.target_id, row.changes) == (admin_user, str(user.pk), {"password": "changed"})
    assert "changed by an administrator" in mailoutbox[-1].body


def test_mismatched_admin_password_records_nothing(admin_client):
    user = make_user(username="alice")
    response = admin_client.post(reverse("admin:auth_user_password_change", args=[user.pk]),
                                 {"usable_password": "true", "password1": NEW_PASSWORD, "password2": "other-words-9x"})
    assert response.status_code == 200
    assert not rows(Action.USER_CHANGED)


def test_admin_deletes_a_user_recorded_once(admin_client, admin_user):
    user = make_user(username="leaver")
    response = admin_client.post(reverse("admin:accounts_user_delete", args=[user.pk]), {"post": "yes"})
    assert response.status_code == 302
    assert not User.objects.filter(username="leaver").exists()
    [row] = rows(Action.USER_DELETED)
    assert (row.actor, row.target_id, row.target_label, row.changes) == (
        admin_user, str(user.pk), "leaver", {"username": ["leaver", None]})


def test_admin_bulk_deletes_users_one_row_each(admin_client):
    users = [make_user(username=name) for name in ("one", "two")]
    response = admin_client.post(reverse("admin:accounts_user_changelist"), {
        "action": "delete_selected", "_selected_action": [user.pk for user in users], "post": "yes",
    })
    assert response.status_code == 302
    assert sorted(row.target_label for row in rows(Action.USER_DELETED)) == ["one", "two"]


def test_user_who_reported_incidents_cannot_be_deleted_and_nothing_is_recorded(admin_client, reporter):
    make_incident(reporter=reporter)
    response = admin_client.post(reverse("admin:accounts_user_delete", args=[reporter.pk]), {"post": "yes"})
    assert response.status_code == 200
    assert User.objects.filter(pk=reporter.pk).exists()
    assert not rows(Action.USER_DELETED)


def test_admin_creates_changes_and_deletes_a_category_one_row_each(admin_client, admin_user):
    admin_client.post(reverse("admin:incidents_category_add"), {"name": "Network", "description": "", "is_active": "on"})
    category = Category.objects.get()
    [created] = rows(Action.CATEGORY_CREATED)
    assert (created.actor, created.target_id, created.changes["name"]) == (admin_user, str(category.pk), [None, "Network"])

    admin_client.post(reverse("admin:incidents_category_change", args=[category.pk]),
                      {"name": "Networking", "description": "", "is_active": "on"})
    [changed] = rows(Action.CATEGORY_CHANGED)
    assert changed.changes == {"name": ["Network", "Networking"]}

    admin_client.post(reverse("admin:incidents_category_delete", args=[category.pk]), {"post": "yes"})
    [deleted] = rows(Action.CATEGORY_DELETED)
    assert (deleted.actor, deleted.target_label) == (admin_user, "Networking")
    assert not Category.objects.exists()


def test_duplicate_category_is_refused_and_records_nothing(admin_client):
    make_category(name="Network")
    response = admin_client.post(reverse("admin:incidents_category_add"),
                                 {"name": "NETWORK", "description": "", "is_active": "on"})
    assert response.status_code == 200
    assert Category.objects.count() == 1
    assert not rows(Action.CATEGORY_CREATED)


def test_admin_bulk_deletes_categories_one_row_each(admin_client):
    categories = [make_category(name=name) for name in ("Network", "Email")]
    admin_client.post(reverse("admin:incidents_category_changelist"), {
        "action": "delete_selected", "_selected_action": [category.pk for category in categories], "post": "yes",
    })
    assert sorted(row.target_label for row in rows(Action.CATEGORY_DELETED)) == ["Email", "Network"]
