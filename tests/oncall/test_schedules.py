"""Who is on call at an instant: rotations, layers, overrides, time zones and daylight-saving changes."""
from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from oncall.models import Override, Rotation, RotationMember, Schedule
from oncall.schedules import OverridePlan, RotationPlan, SchedulePlan, plan_for
from tests.factories import make_user

# A weekly rotation of A, B, C from Monday 23 February 2026 at 09:00 local, over six
# weeks and one more handover: New York moves to summer time on 8 March, Paris on 29
# March. Each instant carries its own UTC offset, so a rule that ignored the change
# (handing over at 09:00 winter time) would name the wrong person at the handovers.
PARIS = [
    ("2026-02-23T08:59+01:00", None), ("2026-02-23T09:00+01:00", "A"), ("2026-02-25T03:00+01:00", "A"),
    ("2026-03-02T08:59+01:00", "A"), ("2026-03-02T09:00+01:00", "B"), ("2026-03-06T23:30+01:00", "B"),
    ("2026-03-09T08:59+01:00", "B"), ("2026-03-09T09:00+01:00", "C"), ("2026-03-12T17:59+01:00", "C"),
    # The override: A covers C's evening and night.
    ("2026-03-12T18:00+01:00", "A"), ("2026-03-13T02:00+01:00", "A"), ("2026-03-13T07:59+01:00", "A"),
    ("2026-03-13T08:00+01:00", "C"), ("2026-03-16T09:00+01:00", "A"), ("2026-03-22T12:00+01:00", "A"),
    ("2026-03-23T09:00+01:00", "B"), ("2026-03-29T01:59+01:00", "B"), ("2026-03-29T03:00+02:00", "B"),
    # 02:30 on 29 March does not exist in Paris.
    ("2026-03-29T01:30Z", "B"),
    ("2026-03-30T08:59+02:00", "B"), ("2026-03-30T09:00+02:00", "C"), ("2026-03-30T09:30+01:00", "C"),
    ("2026-04-02T12:00+02:00", "C"), ("2026-04-06T08:59+02:00", "C"), ("2026-04-06T09:00+02:00", "A"),
]
NEW_YORK = [
    ("2026-02-23T08:59-05:00", None), ("2026-02-23T09:00-05:00", "A"), ("2026-03-01T23:59-05:00", "A"),
    ("2026-03-02T09:00-05:00", "B"), ("2026-03-08T01:59-05:00", "B"), ("2026-03-08T03:00-04:00", "B"),
    # 02:30 on 8 March does not exist in New York.
    ("2026-03-08T07:30Z", "B"),
    ("2026-03-09T08:59-04:00", "B"), ("2026-03-09T09:00-04:00", "C"), ("2026-03-09T13:30Z", "C"),
    ("2026-03-09T12:30Z", "B"), ("2026-03-12T12:00-04:00", "C"), ("2026-03-16T08:59-04:00", "C"),
    ("2026-03-16T09:00-04:00", "A"), ("2026-03-17T19:59-04:00", "A"),
    # The override: B covers A's night.
    ("2026-03-17T20:00-04:00", "B"), ("2026-03-18T05:59-04:00", "B"), ("2026-03-18T06:00-04:00", "A"),
    ("2026-03-23T09:00-04:00", "B"), ("2026-03-29T01:30Z", "B"), ("2026-03-30T08:59-04:00", "B"),
    ("2026-03-30T09:00-04:00", "C"), ("2026-04-03T18:00-04:00", "C"), ("2026-04-06T08:59-04:00", "C"),
    ("2026-04-06T09:00-04:00", "A"),
]
OVERRIDES = {
    "Europe/Paris": ("A", "C", "2026-03-12T18:00+01:00", "2026-03-13T08:00+01:00"),
    "America/New_York": ("B", "A", "2026-03-17T20:00-04:00", "2026-03-18T06:00-04:00"),
}


def moment(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def weekly_schedule(zone: str) -> tuple[Schedule, dict[str, int]]:
    """The weekly rotation above, stored as an administrator would enter it, with the zone's override."""
    people = {name: make_user(username=f"{name.lower()}-{zone}", is_staff=True) for name in "ABC"}
    schedule = Schedule.objects.create(name=f"Platform {zone}")
    rotation = Rotation.objects.create(schedule=schedule, name="Weekly", shift="weekly", starts_on=date(2026, 2, 23),
                                       handover=time(9), time_zone=zone)
    for position, name in enumerate("ABC"):
        RotationMember.objects.create(rotation=rotation, user=people[name], position=position)
    cover, covered, starts, ends = OVERRIDES[zone]
    Override.objects.create(schedule=schedule, user=people[cover], replaces=people[covered],
                            starts_at=moment(starts), ends_at=moment(ends))
    return schedule, {name: person.pk for name, person in people.items()}


@pytest.mark.django_db
@pytest.mark.parametrize(("zone", "instants"), [("Europe/Paris", PARIS), ("America/New_York", NEW_YORK)])
def test_weekly_rotation_names_the_expected_person_across_a_daylight_saving_change(zone, instants):
    assert len(PARIS) + len(NEW_YORK) == 50
    schedule, ids = weekly_schedule(zone)
    plan = plan_for(schedule)
    names = {pk: name for name, pk in ids.items()}
    found = [(instant, names.get(plan.on_call(moment(instant)) or 0)) for instant, _ in instants]
    assert found == instants


@pytest.mark.django_db
def test_shifts_list_each_handover_at_local_time_and_the_override():
    schedule, ids = weekly_schedule("Europe/Paris")
    shifts = plan_for(schedule).shifts(moment("2026-03-09T00:00Z"), moment("2026-04-06T00:00Z"))
    names = {pk: name for name, pk in ids.items()}
    assert [(names[shift.user], shift.starts_at.astimezone(ZoneInfo("Europe/Paris")).isoformat()) for shift in shifts] == [
        ("B", "2026-03-09T01:00:00+01:00"), ("C", "2026-03-09T09:00:00+01:00"), ("A", "2026-03-12T18:00:00+01:00"),
        ("C", "2026-03-13T08:00:00+01:00"), ("A", "2026-03-16T09:00:00+01:00"), ("B", "2026-03-23T09:00:00+01:00"),
        ("C", "2026-03-30T09:00:00+02:00"),
    ]
    # The week of the change is an hour shorter: 23 March 09:00 CET to 30 March 09:00 CEST.
    assert shifts[5].ends_at - shifts[5].starts_at == timedelta(days=7, hours=-1)


PARIS_ZONE = ZoneInfo("Europe/Paris")


def test_a_higher_layer_wins_its_hours_and_leaves_the_rest_to_the_layer_below():
    weekdays = RotationPlan(layer=1, shift="weekly", starts_on=date(2026, 3, 2), handover=time(9),
                            time_zone=PARIS_ZONE, members=(1, 2))
    weekends = RotationPlan(layer=2, shift="daily", starts_on=date(2026, 3, 2), handover=time(9),
                            time_zone=PARIS_ZONE, members=(7, 8), days=frozenset({6, 7}))
    plan = SchedulePlan(rotations=(weekdays, weekends))
    assert plan.on_call(moment("2026-03-06T20:00+01:00")) == 1  # Friday evening: the weekday layer
    # The daily layer counts every day's shift, covered or not: Saturday is its shift 5, Sunday its shift 6.
    assert plan.on_call(moment("2026-03-07T10:00+01:00")) == 8
    assert plan.on_call(moment("2026-03-08T10:00+01:00")) == 7
    assert plan.on_call(moment("2026-03-09T08:00+01:00")) == 7  # Sunday's shift runs to Monday 09:00
    assert plan.on_call(moment("2026-03-09T09:00+01:00")) == 2  # then the weekday layer's second week


def test_hour_shifts_are_real_hours_across_the_change():
    plan = SchedulePlan(rotations=(RotationPlan(layer=1, shift="hours", shift_hours=12, starts_on=date(2026, 3, 28),
                                                handover=time(8), time_zone=PARIS_ZONE, members=(1, 2)),))
    # 28 March 08:00 CET = 07:00 UTC; shifts of 12 real hours: 19:00 UTC, then 07:00 UTC (09:00 CEST on the 29th).
    assert plan.on_call(moment("2026-03-29T06:59Z")) == 2
    assert plan.on_call(moment("2026-03-29T07:00Z")) == 1
    assert [shift.starts_at for shift in plan.shifts(moment("2026-03-29T00:00Z"), moment("2026-03-30T00:00Z"))] == [
        moment("2026-03-29T00:00Z"), moment("2026-03-29T07:00Z"), moment("2026-03-29T19:00Z")]


def test_an_override_for_someone_else_leaves_the_person_on_duty():
    rotation = RotationPlan(layer=1, shift="daily", starts_on=date(2026, 3, 2), handover=time(9), time_zone=PARIS_ZONE,
                            members=(1,))
    elsewhere = OverridePlan(user=3, replaces=2, starts_at=moment("2026-03-03T00:00Z"), ends_at=moment("2026-03-04T00:00Z"))
    anyone = OverridePlan(user=4, replaces=None, starts_at=moment("2026-03-05T00:00Z"),
                          ends_at=moment("2026-03-06T00:00Z"))
    plan = SchedulePlan(rotations=(rotation,), overrides=(elsewhere, anyone))
    assert plan.on_call(moment("2026-03-03T12:00Z")) == 1
    assert plan.on_call(moment("2026-03-05T12:00Z")) == 4


def test_nobody_is_on_call_before_the_first_shift_or_in_an_empty_rotation():
    empty = RotationPlan(layer=1, shift="daily", starts_on=date(2026, 3, 2), handover=time(9), time_zone=PARIS_ZONE,
                         members=())
    assert SchedulePlan(rotations=(empty,)).on_call(moment("2026-03-05T12:00Z")) is None
    assert SchedulePlan(rotations=(empty,)).shifts(moment("2026-03-05T00:00Z"), moment("2026-03-06T00:00Z")) == []
