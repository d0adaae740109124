"""
What the rest of the tracker calls to send something: a mail to one person, an event to
every subscriber that wants it, a test event. Each call only writes deliveries and
their tasks, in the caller's transaction: nothing is sent for a change that rolls back,
nothing is lost after one that commits, and no request ever waits on another system.
Also the subscriptions' own changes (audited) and their health (disabled after about a
day of failures, or at once on 410 Gone, with the administrators mailed).
"""
from __future__ import annotations

import base64
import json
import logging
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.base_user import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from audit.models import Action
from audit.services import audit_record

from . import queue, transport
from .formats import CHAT_FORMATS
from .models import PAGE_EVENT, TEST_EVENT, Channel, Delivery, Event, Format, Status, Subscription, new_message_id
from .transport import Outcome

logger = logging.getLogger(__name__)

# A subscription failing for this long without one success is disabled.
DISABLE_AFTER = timedelta(days=1)
SUBSCRIPTION_FIELDS = ("name", "url", "format", "events", "include_internal", "is_active", "chat_handle")


@dataclass(frozen=True)
class Mail:
    """One mail about `event` to one address; `key` names the event and the recipient."""

    key: str
    event: str
    to: str
    subject: str
    text: str
    html: str = ""


def mail_enqueue(*, key: str, event: str, to: str, subject: str, text: str, html: str = "") -> Delivery | None:
    """
    Queue one mail about `event`. `key` names the event and the recipient: a second call
    with the same key (an event handled twice) queues nothing and returns None.
    """
    queued = mails_enqueue([Mail(key=key, event=event, to=to, subject=subject, text=text, html=html)])
    return queued[0] if queued else None


def mails_enqueue(mails: Iterable[Mail]) -> list[Delivery]:
    """Queue each of `mails` whose key was not queued before, in a few queries however many; the deliveries queued."""
    return _deliveries_enqueue([
        Delivery(key=mail.key, channel=Channel.MAIL, event=mail.event, target=mail.to,
                 payload={"to": mail.to, "subject": mail.subject, "text": mail.text, "html": mail.html})
        for mail in mails])


def _deliveries_enqueue(deliveries: list[Delivery]) -> list[Delivery]:
    """
    Write the new `deliveries` and a task for each, and return them; those whose key is
    taken are left out. The unique key is the only guard: rows are inserted with ON
    CONFLICT DO NOTHING (INSERT OR IGNORE on SQLite), so a key queued before, or at the
    same moment by another transaction (which the insert waits for), is skipped without
    an error, a savepoint per row or a read beforehand. Such an insert cannot return the
    primary keys, so the rows that went in are read back by message id: each delivery is
    given a new one here, which no other row can have. The same few queries for one
    delivery or a hundred.
    """
    if not deliveries:
        return []
    for delivery in deliveries:
        delivery.message_id = new_message_id()
    with transaction.atomic():
        Delivery.objects.bulk_create(deliveries, ignore_conflicts=True)
        inserted = dict(Delivery.objects.filter(message_id__in=[delivery.message_id for delivery in deliveries])
                        .values_list("message_id", "pk"))
        queued = [delivery for delivery in deliveries if delivery.message_id in inserted]
        for delivery in queued:
            delivery.pk = inserted[delivery.message_id]
        queue.enqueue_many(queued)
    return queued


def event_publish(event: Event | str, data: dict[str, Any], *, key: str, internal: bool = False) -> list[Delivery]:
    """
    Queue `event` for every active subscription that wants it; `internal` events go only
    to subscriptions that include internal notes. `key` names the event once (the same
    key twice queues nothing more).
    """
    subscriptions = [subscription for subscription in Subscription.objects.shared().filter(is_active=True)
                     if event in subscription.events and (subscription.include_internal or not internal)]
    return _queue_event(str(event), data, key=key, subscriptions=subscriptions)


def _queue_event(event: str, data: dict[str, Any], *, key: str, subscriptions: list[Subscription]) -> list[Delivery]:
    body = {"type": event, "timestamp": timezone.now().isoformat(), "data": data}
    return _deliveries_enqueue([
        Delivery(key=f"{key}:{subscription.pk}", channel=Channel.WEBHOOK, subscription=subscription, event=event,
                 target=subscription.url, payload=body)
        for subscription in subscriptions])


def send(delivery: Delivery) -> Outcome:
    """Called by the queue's worker: one try at `delivery`, whatever its channel."""
    if delivery.channel == Channel.MAIL:
        return transport.send_mail(delivery.payload, message_id=delivery.message_id)
    subscription = delivery.subscription
    if subscription is None or not subscription.is_active:
        return Outcome(error="The subscription is disabled.", final=True)
    if subscription.format == Format.STANDARD:
        body = json.dumps(delivery.payload, separators=(",", ":")).encode()
        headers = transport.signed_headers(subscription.secret, message_id=delivery.message_id, body=body)
    else:
        body = json.dumps(CHAT_FORMATS[Format(subscription.format)](delivery.payload)).encode()
        headers = {}
    return transport.post_json(subscription.url, body, headers)


def new_secret() -> str:
    """A Standard Webhooks signing secret: `whsec_` and 24 random bytes in base64."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()


def _check_events(events: list[str], *, known: list[str] = Event.values) -> None:
    unknown = sorted(set(events) - set(known))
    if unknown:
        raise ValidationError({"events": f"Unknown events: {', '.join(unknown)}. Known: {', '.join(known)}."})


def subscription_create(*, actor: AbstractBaseUser, **values: Any) -> Subscription:
    """A new subscription with a new secret; the caller shows the secret once (it is never shown again)."""
    _check_events(values.get("events", []), known=[PAGE_EVENT] if values.get("owner") else Event.values)
    subscription = Subscription(**values, secret=new_secret(), created_by_id=actor.pk)
    subscription.full_clean()
    with transaction.atomic():
        subscription.save()
        audit_record(Action.WEBHOOK_CREATED, actor=actor, target=subscription,
                     changes={name: [None, getattr(subscription, name)] for name in SUBSCRIPTION_FIELDS})
    return subscription


def subscription_update(subscription: Subscription, *, actor: AbstractBaseUser, **values: Any) -> Subscription:
    """Change a subscription; enabling it again clears its failure record."""
    if "events" in values:
        _check_events(values["events"])
    with transaction.atomic():
        current = Subscription.objects.select_for_update().get(pk=subscription.pk)
        changes = {name: [getattr(current, name), value] for name, value in values.items()
                   if getattr(current, name) != value}
        for name, value in values.items():
            setattr(current, name, value)
        if values.get("is_active") and not subscription.is_active:
            current.failing_since, current.disabled_reason = None, ""
        current.full_clean()
        current.save()
        if changes:
            audit_record(Action.WEBHOOK_CHANGED, actor=actor, target=current, changes=changes)
    return current


def subscription_delete(subscription: Subscription, *, actor: AbstractBaseUser) -> None:
    with transaction.atomic():
        audit_record(Action.WEBHOOK_DELETED, actor=actor, target=subscription,
                     changes={"name": [subscription.name, None], "url": [subscription.url, None]})
        subscription.delete()


def subscription_test(subscription: Subscription, *, actor: AbstractBaseUser) -> Delivery:
    """Queue a test event to `subscription`, active or not yet, whatever events it wants."""
    data = {"subscription": {"id": subscription.pk, "name": subscription.name},
            "incident": {"id": 0, "title": "Test event", "severity_label": "SEV4 - low", "status_label": "Open",
                         "assignee": None, "url": settings.SITE_URL + "/"},
            "sent_by": {"id": actor.pk, "name": str(actor)}}
    [delivery] = _queue_event(TEST_EVENT, data, key=f"test:{secrets.token_hex(8)}", subscriptions=[subscription])
    return delivery


def page_channel_set(owner: AbstractBaseUser, *, actor: AbstractBaseUser, url: str, format: str,
                     chat_handle: str) -> Subscription:
    """Make or change `owner`'s own page channel, and enable it again if it was disabled."""
    values = {"url": url, "format": format, "chat_handle": chat_handle, "is_active": True}
    current = Subscription.objects.filter(owner_id=owner.pk).first()
    if current is not None:
        return subscription_update(current, actor=actor, **values)
    return subscription_create(actor=actor, owner=owner, name=f"Pages to person #{owner.pk}", events=[PAGE_EVENT],
                               **values)


def page_enqueue(channel: Subscription, data: dict[str, Any], *, key: str) -> Delivery | None:
    """Queue a page to a person's own channel; None when `key` was queued before."""
    queued = _queue_event(PAGE_EVENT, data, key=key, subscriptions=[channel])
    return queued[0] if queued else None


def delivery_retry(delivery: Delivery, *, actor: AbstractBaseUser) -> None:
    """Send a delivery again now ("retry now", "redeliver"); a delivered one is sent again under a new id."""
    with transaction.atomic():
        audit_record(Action.DELIVERY_RETRIED, actor=actor, target=delivery,
                     changes={"event": [None, delivery.event], "target": [None, delivery.target]})
        if delivery.status == Status.DELIVERED:
            again = Delivery.objects.create(key=f"{delivery.key}:again:{secrets.token_hex(8)}",
                                            channel=delivery.channel, subscription=delivery.subscription,
                                            event=delivery.event, target=delivery.target, payload=delivery.payload)
            queue.enqueue(again)
        else:
            queue.retry_now(delivery)


def subscription_succeeded(subscription: Subscription) -> None:
    if subscription.failing_since is not None:
        Subscription.objects.filter(pk=subscription.pk).update(failing_since=None)


def subscription_failed(subscription: Subscription, *, outcome: Outcome, delivery: Delivery,
                        tried_at: datetime) -> None:
    """
    Record a failed try of `delivery`, made at `tried_at`. Disable the subscription on 410 Gone, or once it has
    failed for DISABLE_AFTER without a success, or when `delivery` died after all its
    retries (about a day) with no success since its first try.
    """
    now = timezone.now()
    since = subscription.failing_since or tried_at
    if subscription.failing_since is None:
        Subscription.objects.filter(pk=subscription.pk, failing_since__isnull=True).update(failing_since=tried_at)
    if not subscription.is_active:
        return
    first_try = delivery.attempt_log.order_by("started_at").values_list("started_at", flat=True).first() or now
    exhausted = delivery.status == Status.DEAD and not outcome.final and since <= first_try
    if outcome.gone:
        _disable(subscription, reason=f"The receiver answered 410 Gone on {now:%Y-%m-%d %H:%M} UTC.")
    elif exhausted or now - since >= DISABLE_AFTER:
        _disable(subscription, reason=f"Every delivery failed from {since:%Y-%m-%d %H:%M} to {now:%Y-%m-%d %H:%M} UTC; "
                                      f"the last error: {outcome.error[:150]}")


def _disable(subscription: Subscription, *, reason: str) -> None:
    Subscription.objects.filter(pk=subscription.pk).update(is_active=False, disabled_reason=reason)
    logger.error("webhook subscription %s (%s) disabled: %s", subscription.pk, subscription.name, reason)
    administrators = get_user_model().objects.filter(is_superuser=True, is_active=True).exclude(email="")
    moment = f"{timezone.now():%Y%m%d%H%M%S}"
    mails_enqueue(Mail(key=f"subscription.disabled:{subscription.pk}:{moment}:{administrator.pk}",
                       event="subscription.disabled", to=administrator.email,
                       subject=f"[Incident tracker] Webhook “{subscription.name}” disabled",
                       text=f"The webhook subscription “{subscription.name}” ({subscription.url}) was disabled.\n\n"
                            f"{reason}\n\nEnable it again in the admin once the receiver is fixed: "
                            f"{settings.SITE_URL}/admin/outbound/subscription/{subscription.pk}/change/\n")
                  for administrator in administrators)
