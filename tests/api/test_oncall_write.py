"""
/api/v1/oncall/...: responders read schedules, rotations, overrides, policies and rules;
administrators write them, through the services the admin uses, so every change is
validated as there and audited, and bad input changes nothing.
"""
from __future__ import annotations

import json
from datetime import date, timedelta

import pytest
from django.utils import timezone

from accounts.models import TokenScope
from audit.models import Action, AuditLog
from incidents.models import Incident
from oncall.models import (
    Escalation, EscalationPolicy, EscalationRule, EscalationStep, Override, Rotation, RotationMember, Schedule,
)
from tests.factories import make_category, make_incident, make_user

pytestmark = pytest.mark.django_db
API = "/api/v1/oncall"


def send(client, method, path, body):
    return getattr(client, method)(f"{API}/{path}", json.dumps(body), content_type="application/json")


@pytest.fixture
def people(db):
    return [make_user(username=name, is_staff=True, first_name=name.capitalize()) for name in ("ana", "ben", "cy")]


@pytest.fixture
def administrator(api_client, admin_user):
    return api_client(admin_user)


@pytest.fixture
def schedule(db):
    return Schedule.objects.create(name="Platform")


def rotation_body(people, **fields):
    return {"name": "Weekly", "shift": "weekly", "starts_on": "2026-03-02", "handover": "09:00",
            "time_zone": "Europe/Paris", "members": [person.pk for person in people], **fields}


def test_an_administrator_sets_up_a_schedule_and_a_rotation_with_members_in_order(administrator, admin_user, people):
    created = send(administrator, "post", "schedules/", {"name": "Platform", "description": "Web and database"})
    assert created.status_code == 201, created.content
    schedule_id = created.json()["id"]
    rotation = send(administrator, "post", f"schedules/{schedule_id}/rotations/",
                    rotation_body(people[::-1], days=[1, 2, 3, 4, 5]))
    assert rotation.status_code == 201, rotation.content
    assert [member["id"] for member in rotation.json()["members"]] == [people[2].pk, people[1].pk, people[0].pk]
    stored = Rotation.objects.get()
    assert stored.schedule_id == schedule_id and stored.time_zone == "Europe/Paris" and stored.days == [1, 2, 3, 4, 5]
    assert list(stored.members.values_list("user_id", flat=True)) == [people[2].pk, people[1].pk, people[0].pk]
    shown = administrator.get(f"{API}/schedules/{schedule_id}/").json()
    assert shown["rotations"][0]["members"][0] == {"id": people[2].pk, "name": "Cy"}
    schedule_row = AuditLog.objects.get(action=Action.SCHEDULE_CREATED)
    assert schedule_row.actor_id == admin_user.pk and schedule_row.via == "API token “script”"
    assert schedule_row.changes == {"name": [None, "Platform"], "description": [None, "Web and database"]}
    rotation_row = AuditLog.objects.get(action=Action.ROTATION_CREATED)
    assert rotation_row.target_id == str(stored.pk)
    assert rotation_row.changes["members"] == [[], [{"user": person.pk} for person in people[::-1]]]
    assert rotation_row.changes["time_zone"] == [None, "Europe/Paris"]


def test_members_sent_again_replace_the_list_and_only_what_changed_is_audited(administrator, schedule, people):
    rotation_id = send(administrator, "post", f"schedules/{schedule.pk}/rotations/", rotation_body(people)).json()["id"]
    changed = send(administrator, "patch", f"rotations/{rotation_id}/", {"members": [people[1].pk], "layer": 2})
    assert changed.status_code == 200, changed.content
    assert [member["id"] for member in changed.json()["members"]] == [people[1].pk]
    assert list(RotationMember.objects.values_list("user_id", "position")) == [(people[1].pk, 1)]
    row = AuditLog.objects.get(action=Action.ROTATION_CHANGED)
    assert row.changes == {"layer": [1, 2], "members": [[{"user": person.pk} for person in people],
                                                        [{"user": people[1].pk}]]}
    unchanged = send(administrator, "patch", f"rotations/{rotation_id}/", {"name": "Weekly"})
    assert unchanged.status_code == 200
    assert AuditLog.objects.filter(action=Action.ROTATION_CHANGED).count() == 1


def test_responders_read_everything_but_change_nothing(api_client, responder, schedule, people):
    client = api_client(responder)
    assert client.get(f"{API}/schedules/").json()[0]["name"] == "Platform"
    assert client.get(f"{API}/schedules/{schedule.pk}/").status_code == 200
    for path in ("policies/", "rules/", f"schedules/{schedule.pk}/overrides/", f"schedules/{schedule.pk}/rotations/"):
        assert client.get(f"{API}/{path}").status_code == 200, path
    refused = send(client, "post", "schedules/", {"name": "Mine"})
    assert refused.status_code == 403
    assert refused.json()["detail"] == "Only administrators change on-call schedules, overrides and escalation policies."
    assert send(client, "patch", f"schedules/{schedule.pk}/", {"name": "Renamed"}).status_code == 403
    assert client.delete(f"{API}/schedules/{schedule.pk}/").status_code == 403
    assert send(client, "post", f"schedules/{schedule.pk}/rotations/", rotation_body(people)).status_code == 403
    assert list(Schedule.objects.values_list("name", flat=True)) == ["Platform"] and not Rotation.objects.exists()
    assert not AuditLog.objects.filter(target_type__startswith="oncall.").exists()


def test_a_reporter_may_not_read_on_call_set_up(api_client, reporter, schedule):
    client = api_client(reporter)
    for path in ("schedules/", f"schedules/{schedule.pk}/", "policies/", "rules/", f"schedules/{schedule.pk}/overrides/"):
        response = client.get(f"{API}/{path}")
        assert response.status_code == 403, path
        assert response["Content-Type"] == "application/problem+json"


def test_an_administrators_read_only_token_never_writes(api_client, admin_user, schedule):
    client = api_client(admin_user, scope=TokenScope.READ)
    assert client.get(f"{API}/schedules/").status_code == 200
    refused = send(client, "patch", f"schedules/{schedule.pk}/", {"name": "Renamed"})
    assert refused.status_code == 403 and "read-only" in refused.json()["detail"]
    assert client.delete(f"{API}/schedules/{schedule.pk}/").status_code == 403
    assert Schedule.objects.get().name == "Platform"


def test_anonymous_callers_are_asked_to_authenticate(client, schedule):
    assert client.get(f"{API}/schedules/").status_code == 401
    assert send(client, "post", "schedules/", {"name": "X"}).status_code == 401


HOSTILE_ROTATIONS = [
    ({"days": "1,2"}, "days"),
    ({"days": [0]}, "days.0"),
    ({"days": [8]}, "days.0"),
    ({"days": [True]}, "days.0"),
    ({"days": [1] * 8}, "days"),
    ({"layer": 10 ** 30}, "layer"),
    ({"layer": "top"}, "layer"),
    ({"shift": "hours", "shift_hours": None}, "shift_hours"),
    ({"shift": "hours", "shift_hours": 10 ** 6}, "shift_hours"),
    ({"shift": "monthly"}, "shift"),
    ({"time_zone": "Mars/Olympus_Mons"}, "time_zone"),
    ({"time_zone": None}, "time_zone"),
    ({"starts_on": "0001-01-01"}, "starts_on"),
    ({"starts_on": "2026-02-30"}, "starts_on"),
    ({"handover": "25:00"}, "handover"),
    ({"members": "7"}, "members"),
    ({"members": [10 ** 30]}, "members.0"),
    ({"members": [999_999]}, "members.0"),
    ({"members": [{"id": 1}]}, "members.0"),
    ({"members": None}, "members"),
    ({"name": None}, "name"),
    ({"name": "x" * 101}, "name"),
    ({"schedule": 5}, "schedule"),
]


@pytest.mark.parametrize(("fields", "field"), HOSTILE_ROTATIONS, ids=[str(fields)[:40] for fields, _ in HOSTILE_ROTATIONS])
def test_a_bad_rotation_is_refused_with_its_field_named_and_nothing_stored(administrator, schedule, people, fields,
                                                                           field):
    response = send(administrator, "post", f"schedules/{schedule.pk}/rotations/", rotation_body(people, **fields))
    assert response.status_code == 400, response.content
    assert field in response.json()["errors"], response.json()
    assert not Rotation.objects.exists() and not AuditLog.objects.filter(action=Action.ROTATION_CREATED).exists()


def test_members_must_be_active_responders(administrator, schedule, people, reporter):
    gone = make_user(username="gone", is_staff=True, is_active=False)
    for person in (reporter, gone):
        response = send(administrator, "post", f"schedules/{schedule.pk}/rotations/", rotation_body([people[0], person]))
        assert response.status_code == 400
        assert response.json()["errors"] == {"members.1": [f"No active responder has the id {person.pk}."]}
    assert not Rotation.objects.exists()


@pytest.mark.parametrize("body", [[], "schedule", None, 7, [{"name": "Platform"}]])
def test_a_body_that_is_not_an_object_is_refused(administrator, body):
    response = send(administrator, "post", "schedules/", body)
    assert response.status_code == 400
    assert not Schedule.objects.exists()


def test_a_duplicate_schedule_name_is_refused(administrator, schedule):
    response = send(administrator, "post", "schedules/", {"name": "Platform"})
    assert response.status_code == 400 and "name" in response.json()["errors"]
    assert Schedule.objects.count() == 1


def test_unknown_records_are_404(administrator):
    for path in ("schedules/999/", "rotations/999/", "overrides/999/", "policies/999/", "rules/999/",
                 f"schedules/{10 ** 30}/", "schedules/999/overrides/"):
        assert administrator.get(f"{API}/{path}").status_code == 404, path
    assert send(administrator, "post", "schedules/999/rotations/", {"name": "X"}).status_code == 404


def test_an_override_ends_after_it_starts_and_its_changes_are_audited(administrator, schedule, people):
    start = timezone.now() + timedelta(days=1)
    body = {"user": people[0].pk, "replaces": people[1].pk, "starts_at": start.isoformat(),
            "ends_at": (start - timedelta(hours=1)).isoformat()}
    refused = send(administrator, "post", f"schedules/{schedule.pk}/overrides/", body)
    assert refused.status_code == 400
    assert refused.json()["errors"] == {"ends_at": ["An override ends after it starts."]}
    created = send(administrator, "post", f"schedules/{schedule.pk}/overrides/",
                   {**body, "ends_at": (start + timedelta(hours=8)).isoformat()})
    assert created.status_code == 201, created.content
    override_id = created.json()["id"]
    assert created.json()["replaces"]["id"] == people[1].pk
    still = send(administrator, "patch", f"overrides/{override_id}/", {"starts_at": (start + timedelta(days=1)).isoformat()})
    assert still.status_code == 400 and Override.objects.get().starts_at == start
    moved = send(administrator, "patch", f"overrides/{override_id}/", {"replaces": None})
    assert moved.status_code == 200 and moved.json()["replaces"] is None
    assert AuditLog.objects.get(action=Action.OVERRIDE_CHANGED).changes == {"replaces": [people[1].pk, None]}
    assert administrator.delete(f"{API}/overrides/{override_id}/").status_code == 204
    assert not Override.objects.exists()
    assert AuditLog.objects.get(action=Action.OVERRIDE_DELETED).changes["user"] == [people[0].pk, None]
    assert [row.action for row in AuditLog.objects.filter(target_type="oncall.override").in_chain_order()] == [
        Action.OVERRIDE_CREATED, Action.OVERRIDE_CHANGED, Action.OVERRIDE_DELETED]


@pytest.mark.parametrize(("fields", "field"), [
    ({"ends_at": "9999-12-31T23:59:59-12:00"}, "ends_at"),
    ({"starts_at": "0001-01-01T00:00:00+14:00"}, "starts_at"),
    ({"starts_at": 1_700_000_000}, "starts_at"),
    ({"ends_at": ["2026-03-02T09:00Z"]}, "ends_at"),
    ({"user": "ana"}, "user"),
    ({"user": None}, "user"),
    ({"user": 10 ** 30}, "user"),
    ({"replaces": -1}, "replaces"),
    ({"schedule": 2}, "schedule"),
])
def test_a_bad_override_is_refused_with_its_field_named(administrator, schedule, people, fields, field):
    body = {"user": people[0].pk, "starts_at": "2026-03-02T09:00Z", "ends_at": "2026-03-03T09:00Z", **fields}
    response = send(administrator, "post", f"schedules/{schedule.pk}/overrides/", body)
    assert response.status_code == 400, response.content
    assert field in response.json()["errors"], response.json()
    assert not Override.objects.exists()


def test_overrides_list_upcoming_by_default_page_by_page_and_past_ones_on_request(api_client, responder, schedule,
                                                                                  people):
    now = timezone.now()
    Override.objects.create(schedule=schedule, user=people[0], starts_at=now - timedelta(days=3),
                            ends_at=now - timedelta(days=2))
    for day in range(60):
        Override.objects.create(schedule=schedule, user=people[1], starts_at=now + timedelta(days=day, hours=1),
                                ends_at=now + timedelta(days=day, hours=2))
    client = api_client(responder)
    first = client.get(f"{API}/schedules/{schedule.pk}/overrides/").json()
    assert len(first["results"]) == 50 and first["previous"] is None
    assert first["results"][0]["user"]["id"] == people[1].pk
    second = client.get(first["next"]).json()
    assert len(second["results"]) == 10 and second["next"] is None and second["previous"]
    past = client.get(f"{API}/schedules/{schedule.pk}/overrides/?when=past").json()
    assert [row["user"]["id"] for row in past["results"]] == [people[0].pk]
    assert len(client.get(f"{API}/schedules/{schedule.pk}/overrides/?when=all").json()["results"]) == 50
    for query in ("when=soon", "after=forged", "page=2"):
        assert client.get(f"{API}/schedules/{schedule.pk}/overrides/?{query}").status_code == 400, query


def policy_body(schedule, people, **fields):
    return {"name": "Production", "repeat": 1, "steps": [
        {"target": "schedule", "schedule": schedule.pk, "wait_minutes": 5},
        {"target": "user", "user": people[0].pk, "wait_minutes": 10},
        {"target": "responders"}], **fields}


def test_an_administrator_writes_a_policy_with_its_steps_in_order(administrator, schedule, people):
    created = send(administrator, "post", "policies/", policy_body(schedule, people))
    assert created.status_code == 201, created.content
    policy = EscalationPolicy.objects.get()
    assert [(step.position, step.target, step.wait_minutes) for step in policy.steps.all()] == [
        (1, "schedule", 5), (2, "user", 10), (3, "responders", 5)]
    assert created.json()["steps"][1]["user"]["id"] == people[0].pk
    row = AuditLog.objects.get(action=Action.ESCALATION_POLICY_CREATED)
    assert row.changes["steps"][1][0] == {"target": "schedule", "schedule": schedule.pk, "user": None, "wait_minutes": 5}
    changed = send(administrator, "patch", f"policies/{policy.pk}/",
                   {"steps": [{"target": "responders", "wait_minutes": 1}]})
    assert changed.status_code == 200 and len(changed.json()["steps"]) == 1
    assert AuditLog.objects.get(action=Action.ESCALATION_POLICY_CHANGED).changes["steps"][1] == [
        {"target": "responders", "schedule": None, "user": None, "wait_minutes": 1}]


@pytest.mark.parametrize(("steps", "field"), [
    ([{"target": "schedule"}], "steps.0.schedule"),
    ([{"target": "responders"}, {"target": "user", "user": None}], "steps.1.user"),
    ([{"target": "schedule", "schedule": 999}], "steps.0.schedule"),
    ([{"target": "everyone"}], "steps.0.target"),
    ([{"target": "responders", "wait_minutes": 0}], "steps.0.wait_minutes"),
    ([{"target": "responders", "wait_minutes": 10 ** 9}], "steps.0.wait_minutes"),
    ([{"target": "responders", "colour": "red"}], "steps.0.colour"),
    ("responders", "steps"),
    (["responders"], "steps.0"),
    ([{"target": "responders"}] * 51, "steps"),
])
def test_a_bad_step_is_refused_and_the_policy_kept_as_it_was(administrator, schedule, people, steps, field):
    policy_id = send(administrator, "post", "policies/", policy_body(schedule, people)).json()["id"]
    response = send(administrator, "patch", f"policies/{policy_id}/", {"steps": steps, "name": "Renamed"})
    assert response.status_code == 400, response.content
    assert field in response.json()["errors"], response.json()
    assert EscalationPolicy.objects.get().name == "Production" and EscalationStep.objects.count() == 3
    assert not AuditLog.objects.filter(action=Action.ESCALATION_POLICY_CHANGED).exists()


def test_a_policy_refuses_a_repeat_out_of_range(administrator):
    for repeat in (11, -1, 10 ** 40, "often", None):
        assert send(administrator, "post", "policies/", {"name": "P", "repeat": repeat}).status_code == 400
    assert not EscalationPolicy.objects.exists()


def test_one_rule_per_category_and_severity_and_one_default(administrator, schedule, people):
    policy_id = send(administrator, "post", "policies/", policy_body(schedule, people)).json()["id"]
    network = make_category()
    assert send(administrator, "post", "rules/", {"severity": 1, "policy": policy_id}).status_code == 201
    assert send(administrator, "post", "rules/", {"severity": 1, "category": network.pk, "policy": None}).status_code == 201
    again = send(administrator, "post", "rules/", {"severity": 1, "policy": policy_id})
    assert again.status_code == 400
    assert again.json()["errors"] == {"severity": ["The default (no category) already has a rule for SEV1: change that one."]}
    twice = send(administrator, "post", "rules/", {"severity": 1, "category": network.pk, "policy": policy_id})
    assert twice.status_code == 400 and "severity" in twice.json()["errors"]
    for body in ({"severity": 9, "policy": None}, {"severity": 2, "category": 999, "policy": None},
                 {"severity": 2, "policy": "Production"}, {"severity": 2}):
        assert send(administrator, "post", "rules/", body).status_code == 400, body
    assert EscalationRule.objects.count() == 2
    rules = administrator.get(f"{API}/rules/").json()
    assert {(rule["category_name"], rule["policy_name"]) for rule in rules} == {(None, "Production"), ("Network", None)}
    rule = EscalationRule.objects.get(category=network)
    assert send(administrator, "patch", f"rules/{rule.pk}/", {"policy": policy_id}).status_code == 200
    assert AuditLog.objects.get(action=Action.ESCALATION_RULE_CHANGED).changes == {"policy": [None, policy_id]}
    assert administrator.delete(f"{API}/rules/{rule.pk}/").status_code == 204
    assert AuditLog.objects.filter(action=Action.ESCALATION_RULE_DELETED).count() == 1


def test_a_schedule_a_step_pages_is_not_deleted(administrator, schedule, people):
    send(administrator, "post", f"schedules/{schedule.pk}/rotations/", rotation_body(people))
    send(administrator, "post", "policies/", policy_body(schedule, people))
    response = administrator.delete(f"{API}/schedules/{schedule.pk}/")
    assert response.status_code == 409
    assert response.json()["detail"] == "“Platform” is still used by Production step 1: change those first."
    assert Schedule.objects.exists() and Rotation.objects.exists()
    assert not AuditLog.objects.filter(action=Action.SCHEDULE_DELETED).exists()
    policy = EscalationPolicy.objects.get()
    assert send(administrator, "patch", f"policies/{policy.pk}/", {"steps": []}).status_code == 200
    assert administrator.delete(f"{API}/schedules/{schedule.pk}/").status_code == 204
    assert not Rotation.objects.exists()
    assert AuditLog.objects.get(action=Action.SCHEDULE_DELETED).changes["rotations"] == [["Weekly"], None]


def test_a_policy_an_escalation_ran_is_not_deleted(administrator, schedule, people, reporter):
    policy_id = send(administrator, "post", "policies/", policy_body(schedule, people)).json()["id"]
    incident = make_incident(reporter=reporter)
    Escalation.objects.create(incident=incident, policy_id=policy_id, subject="Disk full", url="/")
    response = administrator.delete(f"{API}/policies/{policy_id}/")
    assert response.status_code == 409 and "escalation of Disk full" in response.json()["detail"]
    assert EscalationPolicy.objects.exists() and Incident.objects.exists()


def test_deleting_a_rotation_is_audited_with_its_members(administrator, schedule, people):
    rotation_id = send(administrator, "post", f"schedules/{schedule.pk}/rotations/", rotation_body(people)).json()["id"]
    assert administrator.delete(f"{API}/rotations/{rotation_id}/").status_code == 204
    row = AuditLog.objects.get(action=Action.ROTATION_DELETED)
    assert row.changes["members"] == [[person.pk for person in people], None]
    assert row.changes["starts_on"] == [date(2026, 3, 2).isoformat(), None]
