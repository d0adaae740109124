"""
A responder's own page channel: set on their on-call page, it is paged beside their mail
through the real queue (a receiver that verifies signatures, a real SMTP server), its
link acknowledges, and a page counts as reached when any of the person's channels got it.
"""
from __future__ import annotations

import json
import re
from datetime import timedelta

import pytest
import time_machine
from django.db.models import Q
from django.utils import timezone
from standardwebhooks import Webhook

from audit.models import Action, AuditLog
from incidents.models import Incident
from oncall.models import Escalation, Page
from outbound.models import Delivery, Event, Status, Subscription
from outbound.services import event_publish, page_channel_set, subscription_create
from tests.conftest import signed_in_verified
from tests.factories import make_user
from tests.oncall.conftest import alert_sev1, pages_to

SECRET = re.compile(r"<code>(whsec_[A-Za-z0-9+/=]+)</code>")


def page_of(*, channel: str) -> Q:
    """The delivery of the one page sent through `channel`."""
    return Q(pk__in=Page.objects.filter(channel=channel).values("delivery"))


def set_channel(person, **values) -> str:
    response = signed_in_verified(person).post("/oncall/channel/", {"action": "save", **values})
    assert response.status_code in (200, 302), response.content.decode()
    return response.content.decode()


def test_a_page_reaches_the_persons_signed_webhook_beside_the_mail_and_its_link_acknowledges(
        team, task_queue, smtp_sink, receiver):
    primary, _ = team
    page = set_channel(primary, url=receiver.url, format="standard")
    shown = SECRET.search(page)  # Shown once, on saving.
    assert shown is not None
    secret = shown.group(1)
    assert secret not in signed_in_verified(primary).get("/oncall/").content.decode()

    start = timezone.now()
    with time_machine.travel(start, tick=False):
        incident = alert_sev1()
        task_queue()
    assert pages_to(smtp_sink) == [primary.email]
    [received] = receiver.received
    event = Webhook(secret).verify(received.body, received.headers)
    assert event["type"] == "oncall.page"
    assert event["data"]["person"] == {"id": primary.pk, "name": str(primary), "chat_handle": ""}
    assert event["data"]["incident"]["id"] == incident.pk

    client = signed_in_verified(primary)
    link = event["data"]["acknowledge_url"].split("://", 1)[1].split("/", 1)[1]
    with time_machine.travel(start + timedelta(minutes=1), tick=False):
        assert client.post(f"/{link}").status_code == 302
        task_queue()
    incident.refresh_from_db()
    assert incident.acknowledged_by == primary
    timeline = client.get(incident.get_absolute_url()).content.decode()
    assert re.search(rf"{primary}</strong> was paged by mail\s+\(step 1\):\s+delivered\s", timeline)
    assert re.search(rf"{primary}</strong> was paged by webhook\s+\(step 1\):\s+delivered; acknowledged through",
                     timeline)


def test_the_secret_is_shown_once_when_a_chat_channel_turns_to_signed_json(db, receiver):
    responder = make_user(username="ana", is_staff=True)
    assert not SECRET.search(set_channel(responder, url=receiver.url, format="slack"))
    turned = SECRET.search(set_channel(responder, url=receiver.url, format="standard"))
    assert turned is not None and turned.group(1) == Subscription.objects.get(owner=responder).secret
    assert not SECRET.search(set_channel(responder, url=receiver.url + "/v2", format="standard"))


def test_a_chat_page_mentions_the_handle_and_carries_the_acknowledge_link(team, task_queue, smtp_sink, receiver):
    primary, _ = team
    set_channel(primary, url=receiver.url, format="slack", chat_handle="U0123ABCD")
    with time_machine.travel(timezone.now(), tick=False):
        alert_sev1()
        task_queue()
    [received] = receiver.received
    message = json.loads(received.body)
    assert message["text"].startswith("<@U0123ABCD> You are paged: incident #")
    section = message["blocks"][0]["text"]["text"]
    assert re.search(r"<https?://\S+/incidents/acknowledge/\S+/\|Acknowledge>", section)
    assert Delivery.objects.get(page_of(channel="chat")).status == Status.DELIVERED


def test_a_bounced_mail_is_not_a_miss_when_the_chat_got_through(team, task_queue, smtp_sink, receiver):
    primary, secondary = team
    set_channel(primary, url=receiver.url, format="mattermost", chat_handle="@ana")
    smtp_sink.refuse_with = "550"
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        alert_sev1()
        task_queue()
    assert "@ana **[You are paged" in json.loads(receiver.received[0].body)["text"]
    Delivery.objects.filter(page_of(channel="mail")).update(status=Status.DEAD)
    with time_machine.travel(start + timedelta(minutes=2), tick=False):
        task_queue()
    assert not Page.objects.filter(user=secondary).exists()  # Reached by chat: the step waits its 5 minutes.


def test_when_every_channel_of_the_person_is_dead_the_escalation_moves_on(team, task_queue, smtp_sink, receiver):
    primary, secondary = team
    set_channel(primary, url=receiver.url, format="standard")
    receiver.script = [410]  # Gone: the channel is disabled and its page dead at once.
    smtp_sink.refuse_with = "550"
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        alert_sev1()
        task_queue()
    assert Subscription.objects.get(owner=primary).is_active is False
    Delivery.objects.filter(page_of(channel="mail")).update(status=Status.DEAD)
    smtp_sink.refuse_with = ""
    with time_machine.travel(start + timedelta(minutes=1, seconds=1), tick=False):
        task_queue()
    assert pages_to(smtp_sink) == [secondary.email]
    assert Escalation.objects.get().step == 0  # Both steps ran: the policy is back at its first step.
    on_call_page = signed_in_verified(primary).get("/oncall/").content.decode()
    assert "This channel is off: The receiver answered 410 Gone" in on_call_page


@pytest.mark.parametrize(("values", "error"), [
    ({"url": "javascript:alert(1)//", "format": "slack"}, "Enter a valid URL."),
    ({"url": "https://hooks.example.com/x", "format": "slack", "chat_handle": "<!channel>"},
     "Give a member id (U0123ABCD) or a user name"),
    ({"url": "https://hooks.example.com/x", "format": "sms"}, "Select a valid choice."),
    ({"url": "https://hooks.example.com/x", "format": "slack", "chat_handle": "a" * 200}, "at most 81 characters"),
])
def test_a_bad_channel_is_refused_with_its_reason_and_nothing_is_saved(db, values, error):
    responder = make_user(username="ana", is_staff=True)
    response = signed_in_verified(responder).post("/oncall/channel/", {"action": "save", **values})
    assert response.status_code == 400
    assert error in response.content.decode()
    assert not Subscription.objects.exists()


def test_only_responders_have_a_page_channel_and_its_changes_are_audited(db, receiver):
    reporter = make_user(username="rep")
    assert signed_in_verified(reporter).post(
        "/oncall/channel/", {"action": "save", "url": receiver.url, "format": "standard"}).status_code == 403
    responder = make_user(username="ana", is_staff=True)
    set_channel(responder, url=receiver.url, format="slack", chat_handle="U1")
    set_channel(responder, url=receiver.url, format="slack", chat_handle="U2")
    assert signed_in_verified(responder).post("/oncall/channel/", {"action": "test"}).status_code == 302
    assert Delivery.objects.get().event == "webhook.test"
    assert signed_in_verified(responder).post("/oncall/channel/", {"action": "remove"}).status_code == 302
    actions = AuditLog.objects.filter(actor=responder, action__startswith="webhook.").order_by("pk")
    assert list(actions.values_list("action", flat=True)) == [
        Action.WEBHOOK_CREATED, Action.WEBHOOK_CHANGED, Action.WEBHOOK_DELETED]
    assert actions[1].changes == {"chat_handle": ["U1", "U2"]}
    assert not Subscription.objects.exists()


def test_a_page_channel_gets_pages_only_and_is_not_a_team_webhook(db, receiver):
    staff = make_user(username="admin", is_staff=True, is_superuser=True)
    responder = make_user(username="ana", is_staff=True)
    channel = page_channel_set(responder, actor=responder, url=receiver.url, format="standard", chat_handle="")
    team_hook = subscription_create(actor=staff, name="Team", url=receiver.url, events=[Event.INCIDENT_REPORTED])
    queued = event_publish(Event.INCIDENT_REPORTED, {"incident": {"id": 1}}, key="incident.reported:1")
    assert [delivery.subscription for delivery in queued] == [team_hook]
    listed = signed_in_verified(staff).get("/api/v1/webhooks/").json()
    assert [hook["name"] for hook in listed] == ["Team"]
    assert signed_in_verified(staff).get(f"/api/v1/webhooks/{channel.pk}/").status_code == 404
    assert Incident.objects.count() == 0
