"""The dashboard's on-call block, a responder's on-call page, and the iCalendar feed behind its secret address."""
from __future__ import annotations

import re
from datetime import datetime, timedelta

import pytest
import time_machine
from django.test import Client
from icalendar import Calendar

from accounts.models import User
from audit.models import Action, AuditLog

from oncall.models import CalendarFeed, SwapRequest
from oncall.schedules import plan_for
from tests.conftest import signed_in, signed_in_verified
from tests.oncall.test_schedules import moment, weekly_schedule

pytestmark = pytest.mark.django_db
NOW = datetime.fromisoformat("2026-03-10T12:00+00:00")


@time_machine.travel(NOW, tick=False)
def test_the_dashboard_tells_a_responder_they_are_on_call_and_until_when(settings):
    schedule, ids = weekly_schedule("Europe/Paris")
    on_duty = User.objects.get(pk=ids["C"])  # Week of 9 March; the override starts on the 12th at 18:00.
    page = signed_in_verified(on_duty).get("/").content.decode()
    assert "You are on call for Platform Europe/Paris until Thursday 12 March, 17:00." in page
    other = signed_in_verified(User.objects.get(pk=ids["B"])).get("/").content.decode()
    assert "You are on call" not in other
    assert "Who is on call now, and next" in other


def test_the_calendar_feed_lists_the_persons_shifts_and_parses(settings):
    schedule, ids = weekly_schedule("Europe/Paris")
    person = User.objects.get(pk=ids["A"])
    client = signed_in_verified(person)
    with time_machine.travel(NOW, tick=False):
        page = client.get("/oncall/").content.decode()
        found = re.search(r'value="http://testserver(/[^"]+\.ics)"', page)
        assert found is not None
        response = Client().get(found.group(1))
    assert response.status_code == 200 and response["Content-Type"].startswith("text/calendar")
    events = [(event.decoded("dtstart"), event.decoded("dtend"))
              for event in Calendar.from_ical(response.content).walk("VEVENT")]
    shifts = plan_for(schedule).shifts(NOW - timedelta(days=7), NOW + timedelta(days=92))
    expected = [(shift.starts_at, shift.ends_at) for shift in shifts if shift.user == person.pk]
    assert events == expected
    assert events[:2] == [(moment("2026-03-12T18:00+01:00"), moment("2026-03-13T08:00+01:00")),
                          (moment("2026-03-16T09:00+01:00"), moment("2026-03-23T09:00+01:00"))]


def test_rotating_the_calendar_address_retires_the_old_one(settings):
    _, ids = weekly_schedule("America/New_York")
    person = User.objects.get(pk=ids["A"])
    client = signed_in_verified(person)
    client.get("/oncall/")
    old = CalendarFeed.objects.get(user=person).secret
    assert Client().get(f"/oncall/calendar/{old}.ics").status_code == 200
    assert client.post("/oncall/calendar/rotate/").status_code == 302
    new = CalendarFeed.objects.get(user=person).secret
    assert new != old
    assert Client().get(f"/oncall/calendar/{old}.ics").status_code == 404
    assert Client().get(f"/oncall/calendar/{new}.ics").status_code == 200
    assert Client().get("/oncall/calendar/guess.ics").status_code == 404


def test_the_on_call_page_is_for_responders(reporter):
    assert signed_in(reporter).get("/oncall/").status_code == 403
    anonymous = Client().get("/oncall/")
    assert anonymous.status_code == 302 and "next=/oncall/" in anonymous["Location"]


@time_machine.travel(NOW, tick=False)
def test_the_api_names_who_is_on_call_now_and_next_for_responders_only(reporter):
    from tests.api.conftest import token_for
    _, ids = weekly_schedule("Europe/Paris")
    responder = User.objects.get(pk=ids["A"])
    body = Client(HTTP_AUTHORIZATION=f"Bearer {token_for(responder)}").get("/api/v1/oncall/").json()
    assert body == [{
        "schedule": "Platform Europe/Paris", "schedule_id": body[0]["schedule_id"],
        "now": {"person": {"id": ids["C"], "name": str(User.objects.get(pk=ids["C"]))},
                "starts_at": "2026-03-09T08:00:00Z", "ends_at": "2026-03-12T17:00:00Z"},
        "next": {"person": {"id": ids["A"], "name": str(responder)},
                 "starts_at": "2026-03-12T17:00:00Z", "ends_at": "2026-03-13T07:00:00Z"},
    }]
    refused = Client(HTTP_AUTHORIZATION=f"Bearer {token_for(reporter)}").get("/api/v1/oncall/")
    assert refused.status_code == 403


@time_machine.travel(NOW, tick=False)
def test_a_responder_asks_for_cover_and_the_colleague_accepting_makes_the_override():
    schedule, ids = weekly_schedule("Europe/Paris")
    on_duty, colleague = User.objects.get(pk=ids["C"]), User.objects.get(pk=ids["B"])
    asking = signed_in_verified(on_duty)
    response = asking.post("/oncall/", {"schedule": schedule.pk, "cover": colleague.pk,
                                        "starts_at": "2026-03-10T18:00", "ends_at": "2026-03-11T08:00"})
    assert response.status_code == 302
    answering = signed_in_verified(colleague)
    page = answering.get("/oncall/").content.decode()
    assert f"{on_duty} asks you to cover Platform Europe/Paris" in page
    found = re.search(r"/oncall/swaps/(\d+)/accept/", page)
    assert found is not None
    swap_pk = found.group(1)
    stranger = signed_in_verified(User.objects.get(pk=ids["A"]))
    assert stranger.post(f"/oncall/swaps/{swap_pk}/accept/").status_code == 404
    assert answering.post(f"/oncall/swaps/{swap_pk}/accept/").status_code == 302
    created = AuditLog.objects.get(action=Action.OVERRIDE_CREATED)
    assert created.actor_id == colleague.pk and created.changes["replaces"] == [None, on_duty.pk]
    plan = plan_for(schedule)
    assert plan.on_call(moment("2026-03-10T20:00Z")) == colleague.pk
    assert plan.on_call(moment("2026-03-11T08:00Z")) == on_duty.pk
    again = answering.post(f"/oncall/swaps/{swap_pk}/decline/", follow=True)
    assert "already accepted" in again.content.decode()
    assert answering.post(f"/oncall/swaps/{swap_pk}/maybe/").status_code == 404


@time_machine.travel(NOW, tick=False)
def test_a_swap_with_oneself_or_in_the_past_is_refused_and_changes_nothing():
    schedule, ids = weekly_schedule("Europe/Paris")
    person = User.objects.get(pk=ids["C"])
    client = signed_in_verified(person)
    mine = client.post("/oncall/", {"schedule": schedule.pk, "cover": person.pk,
                                    "starts_at": "2026-03-10T18:00", "ends_at": "2026-03-11T08:00"})
    assert mine.status_code == 400 and "Ask someone other than yourself." in mine.content.decode()
    past = client.post("/oncall/", {"schedule": schedule.pk, "cover": ids["B"],
                                    "starts_at": "2026-03-01T18:00", "ends_at": "2026-03-02T08:00"})
    assert past.status_code == 400 and "These hours are already over." in past.content.decode()
    backwards = client.post("/oncall/", {"schedule": schedule.pk, "cover": ids["B"],
                                         "starts_at": "2026-03-11T18:00", "ends_at": "2026-03-11T08:00"})
    assert backwards.status_code == 400 and "The cover ends after it starts." in backwards.content.decode()
    assert not SwapRequest.objects.exists()


@time_machine.travel(NOW, tick=False)
def test_the_on_call_page_lists_every_request_for_hours_to_come_and_none_that_are_over():
    schedule, ids = weekly_schedule("Europe/Paris")
    on_duty, colleague = User.objects.get(pk=ids["C"]), User.objects.get(pk=ids["B"])
    for day in range(-1, 25):
        SwapRequest.objects.create(schedule=schedule, requester=on_duty, cover=colleague,
                                   starts_at=NOW + timedelta(days=day, hours=6),
                                   ends_at=NOW + timedelta(days=day, hours=8))
    page = signed_in_verified(on_duty).get("/oncall/").content.decode()
    listed = re.findall(r"<li>[^<]* for Platform Europe/Paris, [^<]*</li>", page)
    assert len(listed) == 25
    assert "Mon 9 Mar" not in "".join(listed)
