"""One person's on-call shifts, across every schedule, as an iCalendar (RFC 5545) feed."""
from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from icalendar import Calendar, Event

from accounts.models import User

from .models import Schedule
from .schedules import plan_for

# What a feed covers: the recent past (a shift just ended) and the next three months.
PAST = timedelta(days=7)
AHEAD = timedelta(days=92)


def feed(person: User, *, now: datetime) -> bytes:
    calendar = Calendar()
    calendar.add("prodid", "-//Incident tracker//On-call shifts//EN")
    calendar.add("version", "2.0")
    calendar.add("x-wr-calname", f"On call: {person}")
    host = settings.SITE_URL.split("://", 1)[-1] or "incident-tracker"
    for schedule in Schedule.objects.filter(rotations__members__user=person).distinct():
        for shift in plan_for(schedule, overrides_from=now - PAST).shifts(now - PAST, now + AHEAD):
            if shift.user != person.pk:
                continue
            event = Event()
            event.add("uid", f"oncall-{schedule.pk}-{person.pk}-{shift.starts_at:%Y%m%dT%H%M%SZ}@{host}")
            event.add("summary", f"On call: {schedule}")
            event.add("dtstart", shift.starts_at)
            event.add("dtend", shift.ends_at)
            event.add("dtstamp", now)
            calendar.add_component(event)
    return calendar.to_ical()
