"""
What leaves the tracker: one Delivery per message to one recipient (a mail to one
person, an event to one subscriber), with every attempt it took. A delivery is the
record of truth; the task queue only says when to try it next (outbound/queue.py).
"""
from __future__ import annotations

import uuid
from datetime import datetime

from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models
from django.utils import timezone


class Event(models.TextChoices):
    INCIDENT_REPORTED = "incident.reported", "incident reported"
    INCIDENT_UPDATED = "incident.updated", "incident updated"
    INCIDENT_TRANSITIONED = "incident.transitioned", "incident status changed"
    INCIDENT_ASSIGNED = "incident.assigned", "incident assigned"
    COMMENT_ADDED = "comment.added", "comment added"
    ALERT_RECEIVED = "alert.received", "alert received"


# Sent only by "send a test event"; no subscription asks for it.
TEST_EVENT = "webhook.test"
# Sent only to a person's own page channel (Subscription.owner), when they are paged.
PAGE_EVENT = "oncall.page"

# What a chat handle may be: a Slack member id (U0123ABCD) or a Mattermost or Teams user name.
validate_chat_handle = RegexValidator(r"^@?[A-Za-z0-9][A-Za-z0-9._-]{0,79}$",
                                      "Give a member id (U0123ABCD) or a user name: letters, digits, . _ and - only.")


class Format(models.TextChoices):
    STANDARD = "standard", "Signed JSON (Standard Webhooks)"
    SLACK = "slack", "Slack incoming webhook"
    MATTERMOST = "mattermost", "Mattermost incoming webhook"
    TEAMS = "teams", "Microsoft Teams (Workflows webhook)"


class SubscriptionQuerySet(models.QuerySet["Subscription"]):
    def shared(self) -> SubscriptionQuerySet:
        """A team's subscriptions, which events go to; not the people's own page channels."""
        return self.filter(owner__isnull=True)


class Subscription(models.Model):
    """
    A URL that is sent incident events: a signed JSON webhook, or a chat channel's incoming
    webhook. One with an `owner` is that person's page channel instead: it is sent their
    pages and nothing else, through the same signing, address checks and retries.
    """

    name = models.CharField(max_length=100, unique=True)
    url = models.URLField("target URL", max_length=2000,
                          help_text="https:// is strongly advised; private and loopback addresses are refused "
                                    "unless an operator allows their network (WEBHOOK_ALLOWED_NETWORKS).")
    format = models.CharField(max_length=20, choices=Format.choices, default=Format.STANDARD)
    events = models.JSONField(default=list, help_text="The events this URL is sent.")
    include_internal = models.BooleanField(
        "include internal notes", default=False,
        help_text="Send comment.added for internal notes too. Only for receivers as private as the notes.")
    is_active = models.BooleanField("active", default=True)
    secret = models.CharField(max_length=100, editable=False,
                              help_text="The signing key (whsec_…), shown once when the subscription is created.")
    failing_since = models.DateTimeField(null=True, blank=True, editable=False)
    disabled_reason = models.CharField(max_length=300, blank=True, editable=False)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+", editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    # A person's own page channel receives only their pages (PAGE_EVENT), never the events above.
    owner = models.OneToOneField(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE,
                                 related_name="page_channel", editable=False,
                                 help_text="Set for a person's own page channel; empty for a team's subscription.")
    chat_handle = models.CharField(
        max_length=81, blank=True, validators=[validate_chat_handle],
        help_text="For a page channel in a chat format: the handle mentioned in the message, so that the chat "
                  "notifies this person in a shared channel (a Slack member id such as U0123ABCD, or a user name).")

    objects = SubscriptionQuerySet.as_manager()

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Channel(models.TextChoices):
    MAIL = "mail", "e-mail"
    WEBHOOK = "webhook", "webhook"


class Status(models.TextChoices):
    PENDING = "pending", "pending"
    DELIVERED = "delivered", "delivered"
    DEAD = "dead", "dead"


class DeliveryQuerySet(models.QuerySet["Delivery"]):
    def abandoned(self) -> DeliveryQuerySet:
        """Pending deliveries a worker took and never finished: it died, or lost the database, mid-try."""
        return self.filter(status=Status.PENDING, locked_until__lt=timezone.now())

    def overdue(self, *, before: datetime) -> DeliveryQuerySet:
        """Pending deliveries due before `before` that no worker holds."""
        return self.filter(status=Status.PENDING, next_attempt_at__lt=before, locked_until__isnull=True)


class Delivery(models.Model):
    """
    One message to one recipient. `key` makes enqueueing idempotent (one mail per
    recipient per event); `message_id` is the stable id a receiver deduplicates by
    (the `webhook-id` header, the mail's Message-ID), the same on every attempt.
    """

    key = models.CharField(max_length=200, unique=True)
    message_id = models.CharField(max_length=60, unique=True, editable=False)
    channel = models.CharField(max_length=10, choices=Channel.choices)
    subscription = models.ForeignKey(Subscription, null=True, blank=True, on_delete=models.CASCADE,
                                     related_name="deliveries")
    event = models.CharField(max_length=50)
    target = models.CharField(max_length=2000, help_text="The address or URL at the time of the event.")
    payload = models.JSONField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    locked_until = models.DateTimeField(null=True, blank=True)
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    delivered_at = models.DateTimeField(null=True, blank=True)

    objects = DeliveryQuerySet.as_manager()

    class Meta:
        verbose_name_plural = "deliveries"
        ordering = ["-created_at", "-pk"]
        indexes = [
            models.Index(fields=["status", "next_attempt_at"], name="delivery_due_idx"),
            models.Index(fields=["subscription", "-created_at"], name="delivery_log_idx"),
            models.Index(fields=["created_at"], name="delivery_age_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.event} to {self.target}"

    def save(self, *args: object, **kwargs: object) -> None:
        if not self.message_id:
            self.message_id = new_message_id()
        super().save(*args, **kwargs)  # type: ignore[arg-type]


def new_message_id() -> str:
    return f"msg_{uuid.uuid4().hex}"


class Attempt(models.Model):
    delivery = models.ForeignKey(Delivery, on_delete=models.CASCADE, related_name="attempt_log")
    started_at = models.DateTimeField()
    duration_ms = models.PositiveIntegerField()
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-started_at", "-pk"]

    def __str__(self) -> str:
        return f"{self.delivery} at {self.started_at:%Y-%m-%d %H:%M:%S}"
