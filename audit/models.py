from __future__ import annotations

import datetime
import hashlib
import json
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models


class Action(models.TextChoices):
    INCIDENT_REPORTED = "incident.reported", "Incident reported"
    INCIDENT_EDITED = "incident.edited", "Incident edited"
    INCIDENT_TRANSITIONED = "incident.transitioned", "Incident status changed"
    INCIDENT_ASSIGNED = "incident.assigned", "Incident assigned"
    INCIDENT_COMMENTED = "incident.commented", "Comment added"
    INCIDENT_NOTE_ADDED = "incident.note_added", "Internal note added"
    ATTACHMENT_ADDED = "incident.attachment_added", "Attachment added"
    ATTACHMENT_REMOVED = "incident.attachment_removed", "Attachment removed"
    INCIDENTS_EXPORTED = "incident.exported", "Incidents exported"
    INCIDENTS_IMPORTED = "incident.imported", "Incidents imported"
    CATEGORY_CREATED = "category.created", "Category created"
    CATEGORY_CHANGED = "category.changed", "Category changed"
    CATEGORY_DELETED = "category.deleted", "Category deleted"
    USER_CREATED = "user.created", "User created"
    USER_CHANGED = "user.changed", "User changed"
    USER_DELETED = "user.deleted", "User deleted"
    SIGNED_IN = "auth.signed_in", "Signed in"
    SIGN_IN_FAILED = "auth.sign_in_failed", "Sign-in failed"
    SIGNED_OUT = "auth.signed_out", "Signed out"
    LOCKED_OUT = "auth.locked_out", "Locked out"
    PASSWORD_CHANGED = "auth.password_changed", "Password changed"
    PASSWORD_RESET = "auth.password_reset", "Password reset"
    OTP_ENROLLED = "otp.enrolled", "Second factor enrolled"
    OTP_REMOVED = "otp.removed", "Second factor removed"
    OTP_FAILED = "otp.failed", "Second factor failed"
    OTP_ENROLMENT_LINK_ISSUED = "otp.enrolment_link_issued", "Enrolment link issued"
    OTP_ENROLMENT_LINK_USED = "otp.enrolment_link_used", "Enrolment link used"
    OTP_BACKUP_CODES_REGENERATED = "otp.backup_codes_regenerated", "Backup codes regenerated"
    API_TOKEN_CREATED = "api_token.created", "API token created"
    API_TOKEN_REVOKED = "api_token.revoked", "API token revoked"
    ALERT_REPEATED = "alert.repeated", "Alert repeated"
    ALERT_INTEGRATION_CREATED = "alert_integration.created", "Alert integration created"
    ALERT_INTEGRATION_CHANGED = "alert_integration.changed", "Alert integration changed"
    WEBHOOK_CREATED = "webhook.created", "Webhook subscription created"
    WEBHOOK_CHANGED = "webhook.changed", "Webhook subscription changed"
    WEBHOOK_DELETED = "webhook.deleted", "Webhook subscription deleted"
    DELIVERY_RETRIED = "delivery.retried", "Delivery retried"
    SCHEDULE_CREATED = "schedule.created", "On-call schedule created"
    SCHEDULE_CHANGED = "schedule.changed", "On-call schedule changed"
    SCHEDULE_DELETED = "schedule.deleted", "On-call schedule deleted"
    ROTATION_CREATED = "rotation.created", "Rotation created"
    ROTATION_CHANGED = "rotation.changed", "Rotation changed"
    ROTATION_DELETED = "rotation.deleted", "Rotation deleted"
    OVERRIDE_CREATED = "override.created", "On-call override created"
    OVERRIDE_CHANGED = "override.changed", "On-call override changed"
    OVERRIDE_DELETED = "override.deleted", "On-call override deleted"
    ESCALATION_POLICY_CREATED = "escalation_policy.created", "Escalation policy created"
    ESCALATION_POLICY_CHANGED = "escalation_policy.changed", "Escalation policy changed"
    ESCALATION_POLICY_DELETED = "escalation_policy.deleted", "Escalation policy deleted"
    ESCALATION_RULE_CREATED = "escalation_rule.created", "Escalation rule created"
    ESCALATION_RULE_CHANGED = "escalation_rule.changed", "Escalation rule changed"
    ESCALATION_RULE_DELETED = "escalation_rule.deleted", "Escalation rule deleted"
    AUDIT_EXPORTED = "audit.exported", "Audit log exported"
    AUDIT_PRUNED = "audit.pruned", "Audit log pruned"


# What a reporter may see of their incident's history: everything else (internal notes,
# and any action added later) is for responders until it is listed here on purpose.
PUBLIC_INCIDENT_ACTIONS = frozenset({
    Action.INCIDENT_REPORTED,
    Action.INCIDENT_EDITED,
    Action.INCIDENT_TRANSITIONED,
    Action.INCIDENT_ASSIGNED,
    Action.INCIDENT_COMMENTED,
})


GENESIS_HASH = "0" * 64


class AuditLogQuerySet(models.QuerySet["AuditLog"]):
    def in_chain_order(self) -> AuditLogQuerySet:
        return self.order_by("sequence")

    def for_target(self, target_type: str, target_id: object) -> AuditLogQuerySet:
        """
        One record's own history, oldest first (served by the target index). The app that
        owns the record names it as rows were written: its model's `_meta.label_lower` and
        primary key, so this app never imports the models it records.
        """
        return self.filter(target_type=target_type, target_id=str(target_id)).in_chain_order()

    def visible_to(self, user: AbstractUser) -> AuditLogQuerySet:
        """Responders see every row; anyone else only incident actions that concern the public view."""
        if user.is_staff:
            return self
        return self.filter(action__in=PUBLIC_INCIDENT_ACTIONS)


class AuditLog(models.Model):
    """
    One append-only, hash-chained record of something that happened. Each row's hash
    covers its own content and the previous row's hash, so rewriting, removing or
    reordering history breaks the chain (`manage.py verify_audit` finds where).
    Rows are written only by `audit.services.audit_record`.
    """

    sequence = models.PositiveBigIntegerField(unique=True, editable=False)
    created_at = models.DateTimeField(editable=False, db_index=True)
    # No database constraint and no cascade: deleting a user must neither rewrite nor
    # remove history, so the row keeps the id it was written with (and the hash stays valid).
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.DO_NOTHING, db_constraint=False,
        related_name="+", editable=False,
    )
    # Kept so the row still says who acted after the user is deleted; empty means the system.
    actor_username = models.CharField(max_length=150, blank=True, editable=False)
    action = models.CharField(max_length=40, choices=Action.choices, editable=False)
    target_type = models.CharField(max_length=60, blank=True, editable=False)
    target_id = models.CharField(max_length=64, blank=True, editable=False)
    target_label = models.CharField(max_length=255, blank=True, editable=False)
    changes = models.JSONField(default=dict, blank=True, encoder=DjangoJSONEncoder, editable=False)
    ip_address = models.GenericIPAddressField(null=True, blank=True, editable=False)
    user_agent = models.CharField(max_length=500, blank=True, editable=False)
    # The channel when not the web pages, e.g. "API token “deploy”" (audit.context.RequestOrigin.via).
    via = models.CharField(max_length=200, blank=True, editable=False)
    # Unique: two rows can never claim the same predecessor, whatever the writers do.
    previous_hash = models.CharField(max_length=64, unique=True, editable=False)
    entry_hash = models.CharField(max_length=64, unique=True, editable=False)

    class Meta:
        ordering = ["-sequence"]
        verbose_name = "audit log entry"
        verbose_name_plural = "audit log"
        indexes = [
            models.Index(fields=["target_type", "target_id", "sequence"], name="audit_target_idx"),
            models.Index(fields=["action", "-created_at"], name="audit_action_idx"),
        ]

    objects = AuditLogQuerySet.as_manager()

    def __str__(self) -> str:
        return f"#{self.sequence} {self.action} {self.target_label}".strip()

    def content(self) -> dict[str, Any]:
        """
        The fields the hash covers, in a form that serialises identically every time.
        `via` came later and is covered only when set, so rows written before it keep their hashes.
        """
        return {
            **({"via": self.via} if self.via else {}),
            "sequence": self.sequence,
            # Databases hand timestamps back in UTC; the hash must not depend on the zone they were written in.
            "created_at": self.created_at.astimezone(datetime.timezone.utc).isoformat(),
            "actor_id": self.actor_id,
            "actor_username": self.actor_username,
            "action": self.action,
            "target_type": self.target_type,
            "target_id": self.target_id,
            "target_label": self.target_label,
            "changes": self.changes,
            "ip_address": self.ip_address,
            "user_agent": self.user_agent,
            "previous_hash": self.previous_hash,
        }

    def compute_hash(self) -> str:
        canonical = json.dumps(self.content(), sort_keys=True, separators=(",", ":"), cls=DjangoJSONEncoder)
        return hashlib.sha256(canonical.encode()).hexdigest()


class SignInFailureWindow(models.Model):
    """
    Failed sign-ins (and refused attempts while locked out) counted per account, or per
    client address when the name typed matches no account, per FAILURE_WINDOW. Only the
    first failure of a window writes an audit row; the rest only count here, so a flood
    of failures adds one audit row per target and window instead of one per attempt, and
    never queues behind the audit chain's lock that every incident write takes.
    """

    action = models.CharField(max_length=40, choices=Action.choices, editable=False)
    # "account:<user id>" or "address:<ip>"; never a typed username.
    key = models.CharField(max_length=80, editable=False)
    window_start = models.DateTimeField(editable=False)
    failures = models.PositiveIntegerField(default=1, editable=False)
    last_at = models.DateTimeField(editable=False)

    class Meta:
        ordering = ["-window_start"]
        verbose_name = "sign-in failure window"
        constraints = [
            models.UniqueConstraint(fields=["action", "key", "window_start"], name="audit_failure_window_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.failures} × {self.action} for {self.key} from {self.window_start:%Y-%m-%d %H:%M}"
