"""
Alert ingestion: the monitoring systems allowed to open incidents (AlertIntegration),
the alert groups they have open (AlertGroup), one incident each, and every delivery
they made (AlertDelivery), refused ones included.
"""
from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.db.models.functions import Lower
from django.utils import timezone

from incidents.models import Category, Incident, Severity

from .matchers import parse_matchers


def default_severity_map() -> dict[str, int]:
    return {"critical": Severity.SEV1, "error": Severity.SEV2, "warning": Severity.SEV3, "info": Severity.SEV4}


class IntegrationKind(models.TextChoices):
    ALERTMANAGER = "alertmanager", "Prometheus Alertmanager"
    GRAFANA = "grafana", "Grafana Alerting"
    GENERIC = "generic", "Generic JSON"


class AlertIntegration(models.Model):
    """
    A monitoring system that may open incidents. It authenticates with its own bearer
    secret (only a SHA-256 digest is kept) and acts through its own service account
    (`account`): that account reports the incidents its alerts open, is the actor of
    their audit rows, and has no usable password.
    """

    name = models.CharField(max_length=80)
    kind = models.CharField(max_length=20, choices=IntegrationKind.choices)
    account = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="alert_integration",
                                   editable=False)
    prefix = models.CharField(max_length=12, editable=False)
    digest = models.CharField(max_length=64, unique=True, editable=False)
    default_category = models.ForeignKey(Category, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    severity_label = models.CharField(
        max_length=100, default="severity",
        help_text="The alert label (or generic field) whose value sets the severity, e.g. “severity”.")
    severity_map = models.JSONField(
        default=default_severity_map, blank=True,
        help_text="Label value → severity number (1 critical … 4 low), e.g. {\"critical\": 1, \"warning\": 3}.")
    default_severity = models.PositiveSmallIntegerField(choices=Severity.choices, default=Severity.SEV3,
                                                        help_text="For an alert whose label is missing or not mapped.")
    resolve_on_resolved = models.BooleanField(
        default=True, help_text="A resolved notification also resolves the incident (otherwise it only comments).")
    reopen_within_minutes = models.PositiveIntegerField(
        "reopen within (minutes)", default=0,
        help_text="A group that fires again this soon after its incident was resolved reopens that incident "
                  "instead of opening a new one. 0: always a new incident.")
    drop_matchers = models.TextField(
        blank=True,
        help_text="Alerts matching any of these lines are dropped (counted in the delivery log, never filed). "
                  "One matcher per line, as in Alertmanager: severity=\"none\", alertname=~\"Watchdog|InfoInhibitor\".")
    rate_limit_per_minute = models.PositiveIntegerField(
        default=0, help_text="Deliveries a minute before the integration is answered 429 with Retry-After. 0: no limit.")
    is_active = models.BooleanField("active", default=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(Lower("name"), name="alert_integration_name_ci_unique",
                                    violation_error_message="An integration with this name already exists."),
            models.CheckConstraint(condition=Q(kind__in=IntegrationKind.values), name="alert_integration_kind_valid"),
        ]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        mapping = self.severity_map
        if not isinstance(mapping, dict) or not all(
                isinstance(value, int) and value in Severity.values for value in mapping.values()):
            raise ValidationError({"severity_map": "Map each label value to a severity number from 1 to 4, "
                                                   "e.g. {\"critical\": 1, \"warning\": 3}."})
        self.severity_map = {str(name).strip().lower(): value for name, value in mapping.items()}
        try:
            parse_matchers(self.drop_matchers)
        except ValueError as error:
            raise ValidationError({"drop_matchers": str(error)}) from error

    def severity_for(self, value: object) -> int:
        """The severity a label value maps to, else the default."""
        return self.severity_map.get(str(value).strip().lower(), self.default_severity)


class AlertGroup(models.Model):
    """
    One alert group (Alertmanager's groupKey, or a generic alert's fingerprint) of one
    integration, and the incident it opened. While `is_open`, every notification of the
    group lands on that incident; a unique constraint makes it the only open one, which
    is what keeps parallel deliveries from opening two incidents.
    """

    integration = models.ForeignKey(AlertIntegration, on_delete=models.CASCADE, related_name="groups")
    # The key can be long (Alertmanager's groupKey holds the route's labels): stored as
    # its SHA-256 for the unique index, and cut short to show.
    key_digest = models.CharField(max_length=64)
    key = models.CharField(max_length=255)
    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="alert_groups", null=True)
    is_open = models.BooleanField(default=True)
    notifications = models.PositiveIntegerField(
        default=0, help_text="Notifications filed on the group, the first included (retries and dropped ones are not).")
    last_payload_digest = models.CharField(max_length=64, blank=True)
    first_received_at = models.DateTimeField(default=timezone.now)
    last_received_at = models.DateTimeField(default=timezone.now)
    # The group as the latest notifications describe it (api.grouping): fingerprint ->
    # status, times, severity and, for the first ALERTS_IN_FULL, labels and links.
    alerts = models.JSONField(default=dict, blank=True)
    truncated_alerts = models.PositiveIntegerField(
        default=0, help_text="Alerts the latest notification left out (Alertmanager's max_alerts): their state is unknown.")
    group_labels = models.JSONField(default=dict, blank=True)
    external_url = models.TextField("Alertmanager URL", blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["integration", "key_digest"], condition=Q(is_open=True),
                                    name="alert_group_one_open"),
        ]

    def __str__(self) -> str:
        return f"{self.integration}: {self.key}"


class DeliveryResult(models.TextChoices):
    ACCEPTED = "accepted", "Accepted"
    REPEATED = "repeated", "Repeated"
    RESOLVED = "resolved", "Resolved"
    REFUSED = "refused", "Refused"


class AlertDelivery(models.Model):
    """
    One delivery an integration made, stored before it is filed, with how it ended: what
    an administrator reads to see what monitoring sent and why anything was refused.
    Kept DELIVERY_LOG_DAYS (api.services prunes older rows as new ones come).
    """

    integration = models.ForeignKey(AlertIntegration, on_delete=models.CASCADE, related_name="deliveries")
    received_at = models.DateTimeField(default=timezone.now)
    result = models.CharField(max_length=10, choices=DeliveryResult.choices, blank=True,
                              help_text="Empty while it is being filed, or if filing it failed (see the error).")
    outcome = models.CharField(max_length=20, blank=True, help_text="What the answer said: created, repeated, retried…")
    status_code = models.PositiveSmallIntegerField(null=True)
    body_digest = models.CharField(max_length=64, blank=True)
    body_bytes = models.PositiveIntegerField(default=0)
    alerts = models.PositiveIntegerField(default=0, help_text="Alerts in the body.")
    dropped = models.PositiveIntegerField(default=0, help_text="Alerts the integration's drop matchers left out.")
    group = models.ForeignKey(AlertGroup, on_delete=models.SET_NULL, null=True, blank=True, related_name="deliveries")
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-received_at", "-pk"]
        verbose_name_plural = "alert deliveries"
        indexes = [models.Index(fields=["integration", "-received_at"], name="alert_delivery_recent")]

    def __str__(self) -> str:
        return f"{self.integration} at {self.received_at:%Y-%m-%d %H:%M:%S}"
