from __future__ import annotations

from typing import TYPE_CHECKING

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.db.models.functions import Lower
from django.urls import reverse
from django.utils import timezone

from .workflow import Status

if TYPE_CHECKING:
    from accounts.models import User


class Severity(models.IntegerChoices):
    SEV1 = 1, "SEV1 – critical"
    SEV2 = 2, "SEV2 – high"
    SEV3 = 3, "SEV3 – medium"
    SEV4 = 4, "SEV4 – low"


class Category(models.Model):
    name = models.CharField(max_length=80)
    description = models.TextField(blank=True)
    is_active = models.BooleanField("active", default=True)

    class Meta:
        verbose_name_plural = "categories"
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(Lower("name"), name="category_name_ci_unique",
                                    violation_error_message="A category with this name already exists."),
        ]

    def __str__(self) -> str:
        return self.name


class IncidentQuerySet(models.QuerySet["Incident"]):
    def visible_to(self, user: User) -> IncidentQuerySet:
        """Responders see every incident; reporters only those they reported."""
        if user.is_staff:
            return self
        return self.filter(reporter=user)

    def for_list(self) -> IncidentQuerySet:
        return self.select_related("category", "reporter", "assignee")


class Incident(models.Model):
    title = models.CharField(max_length=200)
    description = models.TextField()
    category = models.ForeignKey(Category, on_delete=models.PROTECT, related_name="incidents", null=True, blank=True)
    severity = models.PositiveSmallIntegerField(choices=Severity.choices, default=Severity.SEV3)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.OPEN)
    reporter = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="reported_incidents")
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, related_name="assigned_incidents", null=True, blank=True
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)
    acknowledged_at = models.DateTimeField(null=True, blank=True, editable=False)
    resolved_at = models.DateTimeField(null=True, blank=True, editable=False)
    closed_at = models.DateTimeField(null=True, blank=True, editable=False)
    # Optimistic locking: every write bumps it, and a write based on an older value is refused.
    version = models.PositiveIntegerField(default=1, editable=False)
    # The report form's one-time token: submitting the same form twice finds this incident.
    submission_token = models.UUIDField(null=True, blank=True, editable=False)

    objects = IncidentQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=Q(status__in=Status.values), name="incident_status_valid"),
            models.CheckConstraint(condition=Q(severity__in=Severity.values), name="incident_severity_valid"),
            models.CheckConstraint(
                condition=Q(status=Status.CLOSED, closed_at__isnull=False)
                | (~Q(status=Status.CLOSED) & Q(closed_at__isnull=True)),
                name="incident_closed_at_iff_closed",
            ),
            models.CheckConstraint(
                condition=~Q(status__in=[Status.RESOLVED, Status.CLOSED]) | Q(resolved_at__isnull=False),
                name="incident_resolved_has_resolved_at",
            ),
            models.UniqueConstraint(fields=["reporter", "submission_token"], name="incident_submission_once"),
        ]
        indexes = [
            models.Index(fields=["-created_at", "-id"], name="incident_created_idx"),
            models.Index(fields=["status", "-created_at", "-id"], name="incident_status_idx"),
            models.Index(fields=["severity", "-created_at", "-id"], name="incident_severity_idx"),
            models.Index(fields=["category", "-created_at", "-id"], name="incident_category_idx"),
            models.Index(fields=["assignee", "-created_at", "-id"], name="incident_assignee_idx"),
            models.Index(fields=["reporter", "-created_at", "-id"], name="incident_reporter_idx"),
            models.Index(fields=["-updated_at", "-id"], name="incident_updated_idx"),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.title}"

    def get_absolute_url(self) -> str:
        return reverse("incidents:detail", args=[self.pk])

    @property
    def is_open(self) -> bool:
        return self.status == Status.OPEN


class CommentQuerySet(models.QuerySet["Comment"]):
    def visible_to(self, user: User) -> CommentQuerySet:
        """Internal notes are for responders only."""
        if user.is_staff:
            return self
        return self.filter(internal=False)


class Comment(models.Model):
    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="comments")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="comments")
    body = models.TextField()
    internal = models.BooleanField(default=False, help_text="Internal notes are visible to responders only.")
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    objects = CommentQuerySet.as_manager()

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["incident", "created_at"], name="comment_incident_idx")]

    def __str__(self) -> str:
        return f"Comment #{self.pk} on incident #{self.incident_id}"
