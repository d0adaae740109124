"""
"Who is on call at instant T", computed from a schedule's rows loaded once into plain
values (`plan_for`), so a calendar of many weeks costs a few queries and the rules can
be tested without a database.

A rotation's shift k starts at its k-th handover: for daily and weekly shifts the
handover's wall-clock time on the day, in the rotation's zone, so a shift that spans a
daylight-saving change is an hour shorter or longer and the next one still starts at
09:00 local; for N-hour shifts, N real hours after the previous one. The member on duty
in shift k is member k mod n. A rotation restricted to weekdays covers only the shifts
that start on those days. Among the rotations covering T, the highest layer wins (on a
tie, the one listed first); then the latest override that covers T and replaces the
person found (or replaces anyone) puts its person in their place.
"""
from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from accounts.models import User

from .models import Override, Schedule, ShiftKind


@dataclass(frozen=True)
class RotationPlan:
    layer: int
    shift: str
    starts_on: date
    handover: time
    time_zone: ZoneInfo
    members: tuple[int, ...]
    shift_hours: int | None = None
    days: frozenset[int] = frozenset()

    def _handover(self, day: date) -> datetime:
        # In UTC: Python subtracts and adds datetimes that share a zone in wall-clock
        # time, which would make shifts across a daylight-saving change an hour off.
        return datetime.combine(day, self.handover, tzinfo=self.time_zone).astimezone(UTC)

    def _origin(self) -> datetime:
        return self._handover(self.starts_on)

    def shift_index(self, at: datetime) -> int:
        """The number of the shift that covers `at` (negative before the first)."""
        if self.shift == ShiftKind.HOURS:
            return (at - self._origin()) // timedelta(hours=self.shift_hours or 1)
        day = at.astimezone(self.time_zone).date()
        if self._handover(day) > at:
            day -= timedelta(days=1)
        period = 7 if self.shift == ShiftKind.WEEKLY else 1
        return (day - self.starts_on).days // period

    def shift_start(self, index: int) -> datetime:
        if self.shift == ShiftKind.HOURS:
            return self._origin() + index * timedelta(hours=self.shift_hours or 1)
        period = 7 if self.shift == ShiftKind.WEEKLY else 1
        return self._handover(self.starts_on + timedelta(days=index * period))

    def person_at(self, at: datetime) -> int | None:
        """Who this rotation puts on duty at `at`, or None when it does not cover that instant."""
        index = self.shift_index(at)
        if index < 0 or not self.members:
            return None
        if self.days and self.shift_start(index).astimezone(self.time_zone).isoweekday() not in self.days:
            return None
        return self.members[index % len(self.members)]

    def handovers(self, start: datetime, end: datetime) -> Iterator[datetime]:
        """The shift boundaries in [start, end)."""
        index = max(self.shift_index(start), 0)
        while (moment := self.shift_start(index)) < end:
            if moment >= start:
                yield moment
            index += 1


@dataclass(frozen=True)
class OverridePlan:
    user: int
    replaces: int | None
    starts_at: datetime
    ends_at: datetime

    def covers(self, at: datetime, person: int | None) -> bool:
        return self.starts_at <= at < self.ends_at and (self.replaces is None or self.replaces == person)


@dataclass(frozen=True)
class Shift:
    user: int
    starts_at: datetime
    ends_at: datetime


@dataclass(frozen=True)
class SchedulePlan:
    rotations: tuple[RotationPlan, ...]
    overrides: tuple[OverridePlan, ...] = ()

    def on_call(self, at: datetime) -> int | None:
        """The id of the person on call at `at`, or None when nobody is."""
        person = None
        for rotation in sorted(self.rotations, key=lambda rotation: -rotation.layer):
            person = rotation.person_at(at)
            if person is not None:
                break
        for override in reversed(self.overrides):
            if override.covers(at, person):
                return override.user
        return person

    def shifts(self, start: datetime, end: datetime) -> list[Shift]:
        """Who is on call from `start` to `end`, as unbroken stretches per person (nobody's gaps left out)."""
        moments = {start, end}
        for rotation in self.rotations:
            moments.update(rotation.handovers(start, end))
        for override in self.overrides:
            moments.update(moment for moment in (override.starts_at, override.ends_at) if start < moment < end)
        boundaries = sorted(moments)
        shifts: list[Shift] = []
        for begin, finish in zip(boundaries, boundaries[1:]):
            person = self.on_call(begin)
            if shifts and shifts[-1].user == person and shifts[-1].ends_at == begin:
                shifts[-1] = Shift(person, shifts[-1].starts_at, finish)
            elif person is not None:
                shifts.append(Shift(person, begin, finish))
        return shifts


def plan_for(schedule: Schedule, *, overrides_from: datetime | None = None) -> SchedulePlan:
    """`schedule`'s rows as a plan (two queries); overrides that ended before `overrides_from` are left out."""
    rotations = tuple(
        RotationPlan(layer=rotation.layer, shift=rotation.shift, starts_on=rotation.starts_on,
                     handover=rotation.handover, time_zone=ZoneInfo(rotation.time_zone),
                     members=tuple(member.user_id for member in rotation.members.all()),
                     shift_hours=rotation.shift_hours, days=frozenset(rotation.days))
        for rotation in schedule.rotations.prefetch_related("members"))
    overrides = Override.objects.filter(schedule=schedule).order_by("created_at", "pk")
    if overrides_from is not None:
        overrides = overrides.filter(ends_at__gt=overrides_from)
    return SchedulePlan(rotations=rotations, overrides=tuple(
        OverridePlan(user=override.user_id, replaces=override.replaces_id, starts_at=override.starts_at,
                     ends_at=override.ends_at) for override in overrides))


@dataclass(frozen=True)
class Duty:
    """A shift with its person, for pages to show."""

    person: User
    starts_at: datetime
    ends_at: datetime
    # The shift runs past the stretch looked at: "until at least".
    open_ended: bool = False


def on_call_now(schedules: Iterable[Schedule], *, at: datetime, horizon: timedelta = timedelta(days=42)
                ) -> list[tuple[Schedule, Duty | None, Duty | None]]:
    """For each schedule: the shift covering `at` and the one after it, with their people (looking `horizon` either way)."""
    found = []
    for schedule in schedules:
        shifts = plan_for(schedule, overrides_from=at - horizon).shifts(at - horizon, at + horizon)
        current = next((shift for shift in shifts if shift.starts_at <= at < shift.ends_at), None)
        upcoming = next((shift for shift in shifts if shift.starts_at > at), None)
        found.append((schedule, current, upcoming))
    people = User.objects.in_bulk({shift.user for _, *pair in found for shift in pair if shift is not None})

    def duty(shift: Shift | None) -> Duty | None:
        if shift is None or shift.user not in people:
            return None
        return Duty(people[shift.user], shift.starts_at, shift.ends_at, open_ended=shift.ends_at >= at + horizon)

    return [(schedule, duty(current), duty(upcoming)) for schedule, current, upcoming in found]
