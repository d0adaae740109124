"""
Alert integrations and what a notification from one does. Incidents are opened,
commented on and resolved through incidents.services, by the integration's service
account, so the rules, the audit rows and the major-incident mail are the usual ones.

Decisions (docs/api.md says them to users):
- One open incident per integration and group key (generic: fingerprint). The group
  stays open until its incident is resolved or closed; a firing alert after that opens
  a new incident, so a resolved incident's history stays what it was.
- A repeat (the group firing again) counts on the group and adds a timeline row.
- The same body again within ALERT_RETRY_WINDOW is a retry of a delivery, not a
  repeat: it changes nothing and answers as before.
"""
from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import User
from audit.models import Action
from audit.services import audit_record
from common.text import clean_plain_text
from incidents.services import comment_add, incident_create, incident_transition
from incidents.workflow import Status, path_to

from .models import AlertGroup, AlertIntegration

INTEGRATION_SECRET_PREFIX = "ita_"
ALERT_RETRY_WINDOW = timedelta(minutes=5)
UNRESOLVED = (Status.OPEN, Status.IN_PROGRESS)


def digest(text: str | bytes) -> str:
    return hashlib.sha256(text if isinstance(text, bytes) else text.encode("utf-8", "replace")).hexdigest()


@dataclass(frozen=True)
class Alert:
    """One notification, whatever its format: what to file, and under which group key."""

    key: str
    firing: bool
    title: str
    description: str
    severity: int


@dataclass(frozen=True)
class Outcome:
    group: AlertGroup | None
    result: str  # created, repeated, retried, resolved, ignored


def _new_secret(integration: AlertIntegration) -> str:
    secret = INTEGRATION_SECRET_PREFIX + secrets.token_urlsafe(32)
    integration.prefix = secret[:len(INTEGRATION_SECRET_PREFIX) + 4]
    integration.digest = digest(secret)
    return secret


def integration_create(integration: AlertIntegration, *, actor: User | None) -> tuple[AlertIntegration, str]:
    """Save a new integration with its service account and a secret, returned here once and never stored."""
    integration.name = clean_plain_text(integration.name)
    secret = _new_secret(integration)
    with transaction.atomic():
        account = User(username=f"alerts-{uuid.uuid4().hex[:12]}", first_name=integration.name[:150],
                       last_name="(monitoring)", is_service_account=True)
        account.set_unusable_password()
        account.save()
        integration.account = account
        integration.full_clean()
        integration.save(force_insert=True)
        audit_record(Action.ALERT_INTEGRATION_CREATED, actor=actor, target=integration,
                     changes={"name": [None, integration.name], "kind": [None, integration.kind]})
    return integration, secret


def integration_save(integration: AlertIntegration, *, actor: User | None) -> AlertIntegration:
    """Change an integration's settings (the admin's only way to)."""
    fields = ("name", "kind", "default_category", "severity_label", "severity_map", "default_severity",
              "resolve_on_resolved", "is_active")
    before = AlertIntegration.objects.get(pk=integration.pk)
    integration.name = clean_plain_text(integration.name)
    integration.full_clean()
    with transaction.atomic():
        integration.save()
        diff = {name: [_shown(getattr(before, name)), _shown(getattr(integration, name))] for name in fields
                if getattr(before, name) != getattr(integration, name)}
        if diff:
            audit_record(Action.ALERT_INTEGRATION_CHANGED, actor=actor, target=integration, changes=diff)
    return integration


def _shown(value: Any) -> Any:
    return value if value is None or isinstance(value, (str, int, bool, dict)) else str(value)


def integration_secret_rotate(integration: AlertIntegration, *, actor: User | None) -> str:
    """Replace the secret: the old one stops working at once. The new one is returned here only."""
    secret = _new_secret(integration)
    with transaction.atomic():
        integration.save(update_fields=["prefix", "digest"])
        audit_record(Action.ALERT_INTEGRATION_CHANGED, actor=actor, target=integration,
                     changes={"secret": "replaced"})
    return secret


def integration_authenticate(secret: str) -> AlertIntegration | None:
    if not secret.startswith(INTEGRATION_SECRET_PREFIX):
        return None
    return AlertIntegration.objects.select_related("account", "default_category").filter(
        digest=digest(secret), is_active=True).first()


def _locked_open_group(integration: AlertIntegration, key_digest: str) -> AlertGroup | None:
    """The group's open row, locked until the end of the transaction; one whose incident people resolved is closed first."""
    group = (AlertGroup.objects.select_for_update(of=("self",)).select_related("incident")
             .filter(integration=integration, key_digest=key_digest, is_open=True).first())
    if group is not None and group.incident is not None and group.incident.status not in UNRESOLVED:
        group.is_open = False
        group.save(update_fields=["is_open"])
        return None
    return group


def _claimed_group(integration: AlertIntegration, alert: Alert, key_digest: str) -> tuple[AlertGroup, bool]:
    """
    A new open group for this key, or the one a parallel delivery just opened: the
    unique constraint makes the second insert wait for the first transaction and fail,
    and the row it then reads has that delivery's incident.
    """
    try:
        with transaction.atomic():
            return AlertGroup.objects.create(integration=integration, key_digest=key_digest, key=alert.key[:255]), True
    except IntegrityError:
        group = _locked_open_group(integration, key_digest)
        if group is None:
            raise
        return group, False


def _earlier_delivery(integration: AlertIntegration, key_digest: str, body_digest: str, now: datetime) -> AlertGroup | None:
    """The group that received this very body within ALERT_RETRY_WINDOW, open or since closed: this is a retry."""
    return AlertGroup.objects.filter(
        integration=integration, key_digest=key_digest, last_payload_digest=body_digest,
        last_received_at__gt=now - ALERT_RETRY_WINDOW,
    ).order_by("-last_received_at").first()


def alert_receive(integration: AlertIntegration, alert: Alert, *, body_digest: str) -> Outcome:
    """File one notification of `integration`: open, count, or resolve its group's incident."""
    key_digest = digest(alert.key)
    now = timezone.now()
    with transaction.atomic():
        group = _locked_open_group(integration, key_digest)
        earlier = _earlier_delivery(integration, key_digest, body_digest, now)
        if earlier is not None:
            return Outcome(earlier, "retried")
        if not alert.firing:
            if group is None:
                return Outcome(None, "ignored")
            return Outcome(_resolve(integration, group, body_digest=body_digest, now=now), "resolved")
        created = False
        if group is None:
            group, created = _claimed_group(integration, alert, key_digest)
            if not created and group.last_payload_digest == body_digest:
                # A parallel copy of this delivery opened the group while this one waited for it.
                return Outcome(group, "retried")
        if created:
            incident, _ = incident_create(
                reporter=integration.account, title=alert.title, description=alert.description, severity=alert.severity,
                category=integration.default_category if integration.default_category and
                integration.default_category.is_active else None,
            )
            group.incident = incident
        group.notifications += 1
        group.last_payload_digest = body_digest
        group.last_received_at = now
        group.save(update_fields=["incident", "notifications", "last_payload_digest", "last_received_at"])
        if not created:
            audit_record(Action.ALERT_REPEATED, actor=integration.account, target=group.incident,
                         changes={"notifications": [group.notifications - 1, group.notifications]})
    return Outcome(group, "created" if created else "repeated")


def _resolve(integration: AlertIntegration, group: AlertGroup, *, body_digest: str, now: datetime) -> AlertGroup:
    incident = group.incident
    assert incident is not None
    resolving = integration.resolve_on_resolved
    comment_add(incident, author=integration.account, body=(
        "<p>Monitoring reports this alert resolved." + (" The incident is resolved with it.</p>" if resolving else "</p>")
    ))
    if resolving:
        for transition in path_to(incident.status, Status.RESOLVED):
            incident = incident_transition(incident, actor=integration.account, name=transition.name)
        group.is_open = False
    group.last_payload_digest = body_digest
    group.last_received_at = now
    group.save(update_fields=["is_open", "last_payload_digest", "last_received_at"])
    return group
