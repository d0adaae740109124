"""
On-call set-up in the admin goes through the same services as the API: every change
to a schedule, rotation (with its members), override, policy (with its steps) and rule
is in the audit log, made by the administrator, and refusals change nothing.
"""
from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from audit.models import Action, AuditLog
from oncall.models import EscalationPolicy, EscalationRule, EscalationStep, Override, Rotation, RotationMember, Schedule
from tests.factories import make_user

pytestmark = pytest.mark.django_db


def oncall_rows():
    """The audit rows of on-call records (signing the administrator in writes its own)."""
    return AuditLog.objects.filter(target_type__startswith="oncall.").in_chain_order()


def inline(prefix: str, rows: list[dict], *, initial: int = 0) -> dict:
    """An admin inline formset's fields: its management form and `rows`."""
    data = {f"{prefix}-TOTAL_FORMS": len(rows), f"{prefix}-INITIAL_FORMS": initial,
            f"{prefix}-MIN_NUM_FORMS": 0, f"{prefix}-MAX_NUM_FORMS": 1000}
    for index, row in enumerate(rows):
        data.update({f"{prefix}-{index}-{name}": value for name, value in row.items()})
    return data


@pytest.fixture
def people(db):
    return [make_user(username=name, is_staff=True) for name in ("ana", "ben")]


@pytest.fixture
def schedule(db):
    return Schedule.objects.create(name="Platform")


def rotation_form(schedule, members: list[dict], *, initial: int = 0) -> dict:
    return {"schedule": schedule.pk, "name": "Weekly", "layer": 1, "shift": "weekly", "shift_hours": "",
            "starts_on": "2026-03-02", "handover": "09:00", "time_zone": "UTC", "days": "[]",
            **inline("members", members, initial=initial)}


def test_a_schedule_added_in_the_admin_is_audited_with_its_override(admin_client, admin_user, people):
    start = timezone.now() + timedelta(days=1)
    response = admin_client.post("/admin/oncall/schedule/add/", {
        "name": "Platform", "description": "",
        **inline("rotations", []),
        **inline("overrides", [{"user": people[0].pk, "replaces": people[1].pk,
                                "starts_at_0": f"{start:%Y-%m-%d}", "starts_at_1": "18:00:00",
                                "ends_at_0": f"{start + timedelta(days=1):%Y-%m-%d}", "ends_at_1": "08:00:00"}]),
    })
    assert response.status_code == 302, response.content.decode()[-2000:]
    override = Override.objects.get()
    rows = {row.action: row for row in oncall_rows()}
    assert set(rows) == {Action.SCHEDULE_CREATED, Action.OVERRIDE_CREATED}
    assert rows[Action.SCHEDULE_CREATED].actor_id == admin_user.pk and rows[Action.SCHEDULE_CREATED].via == ""
    assert rows[Action.OVERRIDE_CREATED].target_id == str(override.pk)
    assert rows[Action.OVERRIDE_CREATED].changes["user"] == [None, people[0].pk]


def test_a_rotation_and_its_members_are_one_audited_change(admin_client, schedule, people):
    response = admin_client.post("/admin/oncall/rotation/add/", rotation_form(schedule, [
        {"user": people[1].pk, "position": 2}, {"user": people[0].pk, "position": 1}, {"user": "", "position": 0}]))
    assert response.status_code == 302, response.content.decode()[-2000:]
    rotation = Rotation.objects.get()
    assert list(rotation.members.values_list("user_id", flat=True)) == [people[0].pk, people[1].pk]
    created = AuditLog.objects.get(action=Action.ROTATION_CREATED)
    assert created.changes["members"] == [[], [{"user": people[0].pk}, {"user": people[1].pk}]]
    members = list(RotationMember.objects.filter(rotation=rotation))
    changed = admin_client.post(f"/admin/oncall/rotation/{rotation.pk}/change/", rotation_form(schedule, [
        {"id": members[0].pk, "rotation": rotation.pk, "user": people[0].pk, "position": 1, "DELETE": "on"},
        {"id": members[1].pk, "rotation": rotation.pk, "user": people[1].pk, "position": 2}], initial=2))
    assert changed.status_code == 302, changed.content.decode()[-2000:]
    assert list(rotation.members.values_list("user_id", flat=True)) == [people[1].pk]
    row = AuditLog.objects.get(action=Action.ROTATION_CHANGED)
    assert row.changes == {"members": [[{"user": people[0].pk}, {"user": people[1].pk}], [{"user": people[1].pk}]]}


def test_an_inactive_responder_is_not_offered_as_a_member(admin_client, schedule):
    gone = make_user(username="gone", is_staff=True, is_active=False)
    response = admin_client.post("/admin/oncall/rotation/add/", rotation_form(schedule, [{"user": gone.pk, "position": 1}]))
    assert response.status_code == 200 and "Select a valid choice" in response.content.decode()
    assert not Rotation.objects.exists() and not oncall_rows().exists()


def test_a_policy_its_steps_and_rules_are_audited(admin_client, schedule, people):
    response = admin_client.post("/admin/oncall/escalationpolicy/add/", {
        "name": "Production", "repeat": 0,
        **inline("steps", [{"position": 1, "target": "schedule", "schedule": schedule.pk, "user": "", "wait_minutes": 5},
                           {"position": 2, "target": "responders", "schedule": "", "user": "", "wait_minutes": 10}]),
        **inline("rules", [{"category": "", "severity": 1}]),
    })
    assert response.status_code == 302, response.content.decode()[-2000:]
    policy = EscalationPolicy.objects.get()
    assert list(policy.steps.values_list("target", flat=True)) == ["schedule", "responders"]
    assert EscalationRule.objects.get().policy == policy
    policy_row = AuditLog.objects.get(action=Action.ESCALATION_POLICY_CREATED)
    assert [step["target"] for step in policy_row.changes["steps"][1]] == ["schedule", "responders"]
    assert AuditLog.objects.get(action=Action.ESCALATION_RULE_CREATED).changes["policy"] == [None, policy.pk]


def test_deleting_in_the_admin_is_audited_and_a_paged_schedule_is_protected(admin_client, schedule):
    policy = EscalationPolicy.objects.create(name="Production")
    EscalationStep.objects.create(policy=policy, schedule=schedule)
    rule = EscalationRule.objects.create(severity=2, policy=policy)
    refused = admin_client.post(f"/admin/oncall/schedule/{schedule.pk}/delete/", {"post": "yes"})
    assert refused.status_code == 200 and "would require deleting the following protected" in refused.content.decode()
    assert Schedule.objects.exists() and not oncall_rows().exists()
    assert admin_client.post(f"/admin/oncall/escalationrule/{rule.pk}/delete/", {"post": "yes"}).status_code == 302
    assert admin_client.post("/admin/oncall/escalationpolicy/", {
        "action": "delete_selected", "_selected_action": [policy.pk], "post": "yes"}).status_code == 302
    assert [row.action for row in oncall_rows()] == [
        Action.ESCALATION_RULE_DELETED, Action.ESCALATION_POLICY_DELETED]
    assert not EscalationPolicy.objects.exists()
