"""Signed webhooks and chat messages: delivered through failures, verifiable, never twice by id."""
from __future__ import annotations

import json
from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone
from django_tasks_db.models import DBTaskResult
from standardwebhooks.webhooks import Webhook

from incidents.models import Severity
from incidents.services import comment_add, incident_create, incident_transition
from outbound.models import Delivery, Event, Format, Status, Subscription
from outbound.services import event_publish, subscription_create
from tests.factories import make_user


def _subscribe(actor, url: str, *, events=tuple(Event.values), **values) -> Subscription:
    return subscription_create(actor=actor, name=values.pop("name", "receiver"), url=url, events=list(events), **values)


def _work_off_retries(task_queue, *, rounds: int) -> None:
    """Run the queue `rounds` times, each time at the moment the next retry is due."""
    moment = timezone.now()
    for _ in range(rounds):
        with time_machine.travel(moment):
            task_queue()
        waiting = Delivery.objects.filter(status=Status.PENDING).order_by("next_attempt_at").first()
        if waiting is None:
            return
        moment = waiting.next_attempt_at + timedelta(seconds=1)


def test_a_receiver_that_fails_three_times_gets_the_event_later_with_a_signature_standardwebhooks_verifies(
        task_queue, receiver, reporter, responder):
    subscription = _subscribe(responder, receiver.url)
    receiver.script = [500, "hang", "reset"]
    incident, _ = incident_create(reporter=reporter, title="Disk full", description="db-3 at 100 %",
                                  severity=Severity.SEV2)
    _work_off_retries(task_queue, rounds=6)

    delivery = Delivery.objects.get(subscription=subscription)
    assert delivery.status == Status.DELIVERED
    assert delivery.attempts == 4
    errors = list(delivery.attempt_log.order_by("started_at").values_list("error", flat=True))
    assert errors[0].startswith("HTTP 500")
    assert "timed out" in errors[1]
    assert errors[2] and errors[3] == ""
    [received] = receiver.received
    payload = Webhook(subscription.secret).verify(received.body, received.headers)
    assert received.headers["webhook-id"] == delivery.message_id
    assert payload["type"] == "incident.reported"
    assert payload["data"]["incident"]["id"] == incident.pk
    assert payload["data"]["incident"]["reporter"] == {"id": reporter.pk, "name": str(reporter)}


def test_a_tampered_body_fails_verification(task_queue, receiver, reporter, responder):
    subscription = _subscribe(responder, receiver.url)
    incident_create(reporter=reporter, title="Disk full", description="db-3", severity=Severity.SEV3)
    task_queue()
    [received] = receiver.received
    with pytest.raises(Exception):
        Webhook(subscription.secret).verify(received.body.replace(b"Disk", b"Dusk"), received.headers)


def test_a_thousand_events_while_the_receiver_is_down_all_arrive_once_it_is_back(
        task_queue, receiver, reporter, responder, unused_port):
    subscription = _subscribe(responder, f"http://127.0.0.1:{unused_port}/down")
    incident, _ = incident_create(reporter=reporter, title="Flapping", description="ping", severity=Severity.SEV4)
    for number in range(999):
        comment_add(incident, author=responder, body=f"check {number}")
    assert Delivery.objects.filter(subscription=subscription).count() == 1000
    task_queue()
    assert Delivery.objects.filter(status=Status.PENDING, last_error__contains="refused").count() == 1000

    Subscription.objects.filter(pk=subscription.pk).update(url=receiver.url)  # Back after five minutes.
    with time_machine.travel(timezone.now() + timedelta(minutes=5)):
        task_queue()
        task_queue()
    ids = [received.headers["webhook-id"] for received in receiver.received]
    assert len(ids) == 1000
    assert len(set(ids)) == 1000
    assert set(ids) == set(Delivery.objects.filter(subscription=subscription).values_list("message_id", flat=True))


def test_events_reach_only_the_subscriptions_that_want_them_and_internal_notes_only_where_included(
        task_queue, receiver, reporter, responder):
    comments_only = _subscribe(responder, receiver.url, name="comments", events=[Event.COMMENT_ADDED])
    with_notes = _subscribe(responder, receiver.url, name="notes", events=[Event.COMMENT_ADDED], include_internal=True)
    incident, _ = incident_create(reporter=reporter, title="VPN", description="drops", severity=Severity.SEV3)
    comment_add(incident, author=responder, body="Public answer")
    comment_add(incident, author=responder, body="Internal: the router is ours", internal=True)
    incident_transition(incident, actor=responder, name="start")
    assert list(Delivery.objects.filter(subscription=comments_only).values_list("event", flat=True)) == ["comment.added"]
    assert Delivery.objects.filter(subscription=with_notes).count() == 2
    task_queue()
    bodies = [json.loads(received.body) for received in receiver.received]
    internal = [body for body in bodies if body["data"]["comment"]["internal"]]
    assert len(internal) == 1 and internal[0]["data"]["comment"]["body"] == "Internal: the router is ours"


def test_the_payload_names_people_by_display_name_never_by_login_name(task_queue, receiver, reporter):
    responder = make_user(username="jdoe-admin-login", first_name="Jane", last_name="Doe", is_staff=True)
    _subscribe(responder, receiver.url)
    incident_create(reporter=reporter, actor=responder, title="Printer", description="jammed", severity=Severity.SEV4)
    task_queue()
    assert b"jdoe-admin-login" not in receiver.received[0].body
    assert b"Jane Doe" in receiver.received[0].body


def test_410_gone_disables_the_subscription_and_mails_the_administrators(
        task_queue, receiver, reporter, responder, admin_user, smtp_sink):
    subscription = _subscribe(responder, receiver.url)
    receiver.script = [410]
    incident_create(reporter=reporter, title="Gone", description="x", severity=Severity.SEV4)
    task_queue()
    task_queue()
    subscription.refresh_from_db()
    assert not subscription.is_active
    assert "410" in subscription.disabled_reason
    assert Delivery.objects.get(subscription=subscription).status == Status.DEAD
    assert smtp_sink.recipients() == [admin_user.email]
    assert "disabled" in smtp_sink.messages[0]["Subject"]


def test_a_day_of_failures_disables_the_subscription(task_queue, receiver, reporter, responder):
    subscription = _subscribe(responder, receiver.url)
    receiver.script = [503] * 40
    incident_create(reporter=reporter, title="Down", description="x", severity=Severity.SEV4)
    _work_off_retries(task_queue, rounds=20)
    subscription.refresh_from_db()
    delivery = Delivery.objects.get(subscription=subscription)
    assert not subscription.is_active
    assert "503" in subscription.disabled_reason
    assert delivery.status == Status.DEAD
    span = delivery.attempt_log.order_by("-started_at")[0].started_at - delivery.created_at
    assert timedelta(hours=18) < span < timedelta(hours=32)


@pytest.mark.parametrize("chat_format", [Format.SLACK, Format.MATTERMOST, Format.TEAMS])
def test_chat_channels_get_a_readable_message_with_severity_title_status_assignee_and_link(
        chat_format, task_queue, receiver, reporter, responder):
    _subscribe(responder, receiver.url, format=chat_format)
    incident, _ = incident_create(reporter=reporter, title="Payments 5 < 6 & *slow*", description="x",
                                  severity=Severity.SEV1)
    task_queue()
    text = receiver.received[0].body.decode()
    assert "webhook-signature" not in receiver.received[0].headers
    for expected in ("SEV1", "Open", "nobody", f"/incidents/{incident.pk}/"):
        assert expected in text
    message = json.loads(text)
    if chat_format == Format.SLACK:
        assert "Payments 5 &lt; 6 &amp; *slow*" in message["text"]
    elif chat_format == Format.MATTERMOST:
        assert r"Payments 5 < 6 & \*slow\*" in message["text"]
    else:
        assert message["attachments"][0]["content"]["body"][0]["text"].endswith("Payments 5 < 6 & *slow*")


def test_an_event_fans_out_to_every_subscription_once_even_when_published_twice(task_queue, receiver, responder):
    subscriptions = [_subscribe(responder, receiver.url, name=f"receiver {n}") for n in range(3)]
    data = {"incident": {"id": 1}}
    first = event_publish(Event.INCIDENT_UPDATED, data, key="incident:1:v2")
    again = event_publish(Event.INCIDENT_UPDATED, data, key="incident:1:v2")
    assert {delivery.subscription_id for delivery in first} == {subscription.pk for subscription in subscriptions}
    assert again == []
    assert DBTaskResult.objects.count() == Delivery.objects.count() == 3
    task_queue()
    task_queue()
    assert sorted(json.loads(received.body)["type"] for received in receiver.received) == ["incident.updated"] * 3
    assert len({received.headers["webhook-id"] for received in receiver.received}) == 3
    assert set(Delivery.objects.values_list("status", flat=True)) == {Status.DELIVERED}
