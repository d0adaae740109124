"""
Who is on duty and who is paged when. A schedule stacks rotations in layers (the
highest layer that covers an instant wins it) and overrides (one person covers
another's hours); `oncall.schedules` turns these rows into "who is on call at T".
An escalation policy is an ordered list of steps, chosen per category and severity;
an Escalation row is one incident's run through its policy, and each Page one message
to one person. The rows hold the truth; the task queue only says when to look again.
"""
from __future__ import annotations

import secrets
from datetime import date, timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone

from accounts.models import name_fields, validate_time_zone


class Schedule(models.Model):
    name = models.CharField(max_length=100, unique=True)
    description = models.TextField(blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class ShiftKind(models.TextChoices):
    DAILY = "daily", "daily"
    WEEKLY = "weekly", "weekly"
    HOURS = "hours", "every N hours"


# Handovers are computed in UTC: a first day near the calendar's ends would overflow it.
FIRST_DAY_RANGE = (date(1970, 1, 1), date(2199, 12, 31))


class Rotation(models.Model):
    """
    One layer of a schedule: its members take turns, in order, from `starts_on` at
    `handover` local time in `time_zone`. Daily and weekly shifts hand over at the same
    wall-clock time whatever the daylight-saving offset (so a shift across a change is
    an hour shorter or longer); N-hour shifts are N real hours each.
    """

    schedule = models.ForeignKey(Schedule, on_delete=models.CASCADE, related_name="rotations")
    name = models.CharField(max_length=100)
    layer = models.PositiveSmallIntegerField(default=1, help_text="A higher layer wins the hours it covers.")
    shift = models.CharField(max_length=10, choices=ShiftKind.choices, default=ShiftKind.WEEKLY)
    shift_hours = models.PositiveSmallIntegerField(
        null=True, blank=True, validators=[MinValueValidator(1), MaxValueValidator(24 * 28)],
        help_text="For “every N hours” only: the length of one shift.")
    starts_on = models.DateField(help_text="The first shift starts on this day; weekly shifts hand over on its weekday.")
    handover = models.TimeField(default="09:00", help_text="Local time of the handover, in the rotation's time zone.")
    time_zone = models.CharField(max_length=64, default="UTC", validators=[validate_time_zone])
    days = models.JSONField(
        default=list, blank=True,
        help_text="Only shifts that start on these weekdays (1 = Monday … 7 = Sunday); empty for every day. "
                  "A weekend layer: daily shifts on 6 and 7.")

    class Meta:
        ordering = ["schedule", "-layer", "pk"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(shift="hours", shift_hours__isnull=False) | ~models.Q(shift="hours"),
                name="rotation_hours_has_length"),
        ]

    def __str__(self) -> str:
        return f"{self.schedule}: {self.name}"

    def clean(self) -> None:
        if self.shift == ShiftKind.HOURS and not self.shift_hours:
            raise ValidationError({"shift_hours": "Give the length of a shift in hours."})
        if not isinstance(self.days, list) or any(type(day) is not int or day not in range(1, 8) for day in self.days):
            raise ValidationError({"days": "List weekdays as numbers from 1 (Monday) to 7 (Sunday)."})
        if self.starts_on and not FIRST_DAY_RANGE[0] <= self.starts_on <= FIRST_DAY_RANGE[1]:
            raise ValidationError({"starts_on": f"Start between {FIRST_DAY_RANGE[0]:%Y} and {FIRST_DAY_RANGE[1]:%Y}."})


class RotationMember(models.Model):
    rotation = models.ForeignKey(Rotation, on_delete=models.CASCADE, related_name="members")
    # Active: a person who can no longer sign in cannot answer a page.
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+",
                             limit_choices_to={"is_staff": True, "is_active": True})
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["rotation", "position", "pk"]

    def __str__(self) -> str:
        return f"{self.user} in {self.rotation}"


class Override(models.Model):
    """`user` is on call from `starts_at` to `ends_at`, in place of `replaces` (or of whoever is on duty if empty)."""

    schedule = models.ForeignKey(Schedule, on_delete=models.CASCADE, related_name="overrides")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+",
                             limit_choices_to={"is_staff": True})
    replaces = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE,
                                 related_name="+", limit_choices_to={"is_staff": True})
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["schedule", "starts_at"]
        constraints = [models.CheckConstraint(condition=models.Q(ends_at__gt=models.F("starts_at")),
                                              name="override_ends_after_start")]
        indexes = [models.Index(fields=["schedule", "ends_at"], name="override_upcoming_idx")]

    def __str__(self) -> str:
        return f"{self.user} covers {self.replaces or 'the schedule'} in {self.schedule}"

    def clean(self) -> None:
        if self.starts_at and self.ends_at and self.ends_at <= self.starts_at:
            raise ValidationError({"ends_at": "An override ends after it starts."})


class SwapStatus(models.TextChoices):
    PENDING = "pending", "waiting for an answer"
    ACCEPTED = "accepted", "accepted"
    DECLINED = "declined", "declined"


class SwapRequest(models.Model):
    """`requester` asks `cover` to take their hours in `schedule`; accepting makes the override."""

    schedule = models.ForeignKey(Schedule, on_delete=models.CASCADE, related_name="swap_requests")
    requester = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    cover = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+",
                              limit_choices_to={"is_staff": True, "is_active": True})
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    status = models.CharField(max_length=10, choices=SwapStatus.choices, default=SwapStatus.PENDING)
    override = models.OneToOneField(Override, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["-created_at"]
        constraints = [models.CheckConstraint(condition=models.Q(ends_at__gt=models.F("starts_at")),
                                              name="swap_ends_after_start")]

    def __str__(self) -> str:
        return f"{self.requester} asks {self.cover} to cover {self.schedule}"


def new_feed_secret() -> str:
    return secrets.token_urlsafe(24)


class CalendarFeed(models.Model):
    """The secret that names one person's iCalendar feed; rotating it ends every copy of the old URL."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="calendar_feed")
    secret = models.CharField(max_length=64, unique=True, default=new_feed_secret, editable=False)
    rotated_at = models.DateTimeField(default=timezone.now, editable=False)

    def __str__(self) -> str:
        return f"calendar of {self.user}"


class EscalationPolicy(models.Model):
    name = models.CharField(max_length=100, unique=True)
    repeat = models.PositiveSmallIntegerField(
        default=0, validators=[MaxValueValidator(10)],
        help_text="How many more times the steps run when nobody acknowledges.")

    class Meta:
        ordering = ["name"]
        verbose_name_plural = "escalation policies"

    def __str__(self) -> str:
        return self.name


class Target(models.TextChoices):
    SCHEDULE = "schedule", "the on-call of a schedule"
    USER = "user", "a named person"
    RESPONDERS = "responders", "every responder"


class EscalationStep(models.Model):
    policy = models.ForeignKey(EscalationPolicy, on_delete=models.CASCADE, related_name="steps")
    position = models.PositiveSmallIntegerField(default=0)
    target = models.CharField(max_length=12, choices=Target.choices, default=Target.SCHEDULE)
    schedule = models.ForeignKey(Schedule, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
                             related_name="+", limit_choices_to={"is_staff": True})
    wait_minutes = models.PositiveSmallIntegerField(
        default=5, validators=[MinValueValidator(1), MaxValueValidator(24 * 60)],
        help_text="Minutes to wait for an acknowledgement before the next step.")

    class Meta:
        ordering = ["policy", "position", "pk"]
        constraints = [
            models.CheckConstraint(
                condition=(models.Q(target="schedule", schedule__isnull=False)
                           | models.Q(target="user", user__isnull=False) | models.Q(target="responders")),
                name="step_names_its_target"),
        ]

    def __str__(self) -> str:
        return f"{self.policy} step {self.position}"

    def clean(self) -> None:
        if self.target == Target.SCHEDULE and self.schedule_id is None:
            raise ValidationError({"schedule": "Choose the schedule whose on-call is paged."})
        if self.target == Target.USER and self.user_id is None:
            raise ValidationError({"user": "Choose the person who is paged."})

    @property
    def wait(self) -> timedelta:
        return timedelta(minutes=self.wait_minutes)


class EscalationRule(models.Model):
    """
    Which policy an incident of `severity` in `category` starts. A rule without a
    category is the default for that severity; one without a policy means "no paging"
    (so a category can opt out of the default).
    """

    category = models.ForeignKey("incidents.Category", null=True, blank=True, on_delete=models.CASCADE,
                                 related_name="+", help_text="Empty: every category without its own rule.")
    severity = models.PositiveSmallIntegerField(choices=[(1, "SEV1"), (2, "SEV2"), (3, "SEV3"), (4, "SEV4")])
    policy = models.ForeignKey(EscalationPolicy, null=True, blank=True, on_delete=models.CASCADE,
                               related_name="rules", help_text="Empty: incidents matching this rule page nobody.")

    class Meta:
        ordering = ["severity", "category"]
        constraints = [
            models.UniqueConstraint(fields=["category", "severity"], name="one_rule_per_category_severity"),
            models.UniqueConstraint(fields=["severity"], condition=models.Q(category__isnull=True),
                                    name="one_default_rule_per_severity"),
        ]

    def __str__(self) -> str:
        return f"SEV{self.severity} {self.category or 'by default'}: {self.policy or 'no paging'}"


class Escalation(models.Model):
    """
    One incident's run through a policy. `step` and `round` say what runs next and
    `next_at` when; `generation` names the one task allowed to run it, so a task that
    runs twice or late does nothing. What a page says is copied here when it starts.
    """

    incident = models.OneToOneField("incidents.Incident", on_delete=models.CASCADE, related_name="escalation")
    policy = models.ForeignKey(EscalationPolicy, on_delete=models.PROTECT, related_name="escalations")
    subject = models.CharField(max_length=300)
    url = models.CharField(max_length=500)
    step = models.PositiveSmallIntegerField(default=0)
    round = models.PositiveSmallIntegerField(default=0)
    next_at = models.DateTimeField(null=True, blank=True)
    generation = models.PositiveIntegerField(default=0)
    started_at = models.DateTimeField(default=timezone.now)
    stopped_at = models.DateTimeField(null=True, blank=True)
    stop_reason = models.CharField(max_length=100, blank=True)

    class Meta:
        indexes = [models.Index(fields=["next_at"], condition=models.Q(stopped_at__isnull=True),
                                name="escalation_running_idx")]

    def __str__(self) -> str:
        return f"escalation of {self.subject}"


class PageQuerySet(models.QuerySet["Page"]):
    def for_incident(self, incident_id: int) -> PageQuerySet:
        """An incident's pages, oldest first, with only what its timeline shows of the person and the delivery."""
        return self.filter(escalation__incident_id=incident_id).select_related("user", "delivery").only(
            "user", "delivery", "round", "step", "channel", "sent_at", "link_used_at", *name_fields("user"),
            "delivery__status", "delivery__last_error",
        ).order_by("sent_at", "pk")


class PageChannel(models.TextChoices):
    MAIL = "mail", "mail"
    CHAT = "chat", "chat"
    WEBHOOK = "webhook", "webhook"


class Page(models.Model):
    """
    One message to one person through one channel for one step of an escalation; its
    delivery says whether it reached them. A person with their own page channel gets two
    per step: the mail, and the chat message or webhook.
    """

    escalation = models.ForeignKey(Escalation, on_delete=models.CASCADE, related_name="pages")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    round = models.PositiveSmallIntegerField()
    step = models.PositiveSmallIntegerField()
    channel = models.CharField(max_length=10, choices=PageChannel.choices, default=PageChannel.MAIL)
    delivery = models.ForeignKey("outbound.Delivery", null=True, blank=True, on_delete=models.SET_NULL,
                                 related_name="+")
    sent_at = models.DateTimeField(default=timezone.now)
    link_used_at = models.DateTimeField(null=True, blank=True)

    objects = PageQuerySet.as_manager()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["escalation", "round", "step", "user", "channel"],
                                               name="one_page_per_step_and_person")]

    def __str__(self) -> str:
        return f"page to {self.user} at {self.sent_at:%Y-%m-%d %H:%M}"
