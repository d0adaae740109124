"""
Alert integrations and what a notification from one does. Incidents are opened,
commented on and resolved through incidents.services, by the integration's service
account, so the rules, the audit rows and the major-incident mail are the usual ones.

Decisions (docs/api.md says them to users):
- Every delivery is stored in the integration's delivery log (AlertDelivery) before it
  is filed, and ends there as accepted, repeated, resolved or refused, counted in
  /metrics too.
- One open incident per integration and group key (generic: fingerprint). The group
  stays open until its incident is resolved or closed; a firing alert after that opens
  a new incident (or, within the integration's reopen_within_minutes, reopens the last
  one), so a resolved incident's history stays what it was.
- The incident follows its group (api.grouping): each notification updates the
  group's alerts, adds a timeline row naming the alerts that joined or left, and
  raises the severity when a more severe alert fires. It is resolved only when
  nothing of the group is known to fire, alerts the sender left out included.
- The same body again within ALERT_RETRY_WINDOW is a retry of a delivery, not a
  repeat: it changes nothing and answers as before.
- Lock order, as every writer of incidents: the group's row, then the incident's row,
  then the incident counts' rows (a change of status or severity), then the audit
  chain (audit_record). Auto-resolve once commented (taking the chain) before it moved
  the incident, and deadlocked with a responder moving another incident.
"""
from __future__ import annotations

import hashlib
import logging
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone
from prometheus_client import Counter

from accounts.models import User
from audit.models import Action
from audit.services import audit_record
from common.text import clean_plain_text
from incidents.events import incident_data
from incidents.models import Incident
from outbound.models import Event
from outbound.services import event_publish
from incidents.services import (
    comment_add, incident_create, incident_resolve_from_monitoring, incident_severity_raise, incident_transition,
)
from incidents.workflow import Status

from .grouping import Change, Notification, all_clear, listed, merged
from .models import AlertDelivery, AlertGroup, AlertIntegration, DeliveryResult

logger = logging.getLogger(__name__)

INTEGRATION_SECRET_PREFIX = "ita_"
ALERT_RETRY_WINDOW = timedelta(minutes=5)
UNRESOLVED = (Status.OPEN, Status.IN_PROGRESS)
DELIVERY_LOG_DAYS = 30
# Old rows are pruned by every PRUNE_EVERY-th delivery rather than by each: one cheap
# indexed delete now and then keeps the log at its 30 days without a scheduled job.
PRUNE_EVERY = 100
RESULTS = {"created": DeliveryResult.ACCEPTED, "reopened": DeliveryResult.ACCEPTED, "ignored": DeliveryResult.ACCEPTED,
           "dropped": DeliveryResult.ACCEPTED, "repeated": DeliveryResult.REPEATED, "retried": DeliveryResult.REPEATED,
           "resolved": DeliveryResult.RESOLVED}

DELIVERIES = Counter("incident_tracker_alert_deliveries", "Alert deliveries by integration and result "
                     "(accepted, repeated, resolved, refused).", ["integration", "result"])
DROPPED_ALERTS = Counter("incident_tracker_alerts_dropped", "Alerts left out by an integration's drop matchers.",
                         ["integration"])


def digest(text: str | bytes) -> str:
    return hashlib.sha256(text if isinstance(text, bytes) else text.encode("utf-8", "replace")).hexdigest()


@dataclass(frozen=True)
class Outcome:
    group: AlertGroup | None
    result: str  # created, reopened, repeated, retried, resolved, ignored, dropped


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
              "resolve_on_resolved", "reopen_within_minutes", "drop_matchers", "rate_limit_per_minute", "is_active")
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


def delivery_store(integration: AlertIntegration, *, body: bytes) -> AlertDelivery:
    """
    Record a delivery as it arrived, before anything is filed, in its own committed
    transaction: whatever happens next, the log shows it came.
    """
    delivery = AlertDelivery.objects.create(integration=integration, body_digest=digest(body), body_bytes=len(body))
    if delivery.pk % PRUNE_EVERY == 0:
        AlertDelivery.objects.filter(integration=integration,
                                     received_at__lt=timezone.now() - timedelta(days=DELIVERY_LOG_DAYS)).delete()
    return delivery


def delivery_refuse(integration: AlertIntegration, *, delivery: AlertDelivery | None, status_code: int,
                    error: str) -> AlertDelivery:
    """A delivery answered with an error: in the log as refused, with the answer's status and message, and counted."""
    if delivery is None:
        delivery = AlertDelivery(integration=integration)
    delivery.result, delivery.status_code, delivery.error = DeliveryResult.REFUSED, status_code, error
    delivery.save()
    DELIVERIES.labels(integration=integration.name, result=DeliveryResult.REFUSED).inc()
    logger.warning("alert delivery %s of integration %s refused with %s: %s", delivery.pk, integration.pk,
                   status_code, error)
    return delivery


def delivery_failed(delivery: AlertDelivery, *, error: str) -> None:
    """Filing the delivery failed (a 5xx, which the sender retries): the log says why, without a result."""
    AlertDelivery.objects.filter(pk=delivery.pk).update(status_code=500, error=error)


def alert_delivery_accepted(delivery: AlertDelivery, outcome: Outcome, notification: Notification) -> None:
    """
    The one place an accepted delivery is recorded, inside the transaction that filed it,
    so the log, the counts and the incident agree. Whatever must follow an accepted
    alert delivery hooks in here.
    """
    result = RESULTS[outcome.result]
    delivery.result, delivery.outcome, delivery.group = result, outcome.result, outcome.group
    delivery.status_code = 201 if outcome.result == "created" else 200
    delivery.alerts, delivery.dropped = len(notification.alerts) + notification.dropped, notification.dropped
    delivery.save(update_fields=["result", "outcome", "group", "status_code", "alerts", "dropped"])
    name = delivery.integration.name
    transaction.on_commit(lambda: DELIVERIES.labels(integration=name, result=result).inc())
    if outcome.group is not None and outcome.group.incident is not None:
        _publish_alert_received(delivery, outcome, notification)
    if notification.dropped:
        transaction.on_commit(lambda: DROPPED_ALERTS.labels(integration=name).inc(notification.dropped))


def _publish_alert_received(delivery: AlertDelivery, outcome: Outcome, notification: Notification) -> None:
    """Tell webhook and chat subscribers (alert.received), in the same transaction, once per delivery."""
    group = outcome.group
    assert group is not None and group.incident is not None
    event_publish(Event.ALERT_RECEIVED, {
        "incident": incident_data(group.incident),
        "integration": {"id": delivery.integration_id, "name": delivery.integration.name},
        "alert_group": {"key": group.key, "labels": group.group_labels, "firing": notification.firing,
                        "alerts": len(notification.alerts) + notification.truncated, "external_url": group.external_url},
        "result": outcome.result,
    }, key=f"alert-delivery:{delivery.pk}")


def alert_receive(integration: AlertIntegration, notification: Notification, *, delivery: AlertDelivery) -> Outcome:
    """File one stored delivery of `integration`: open, update, reopen or resolve its group's incident."""
    with transaction.atomic():
        outcome = _filed(integration, notification, body_digest=delivery.body_digest, now=delivery.received_at)
        alert_delivery_accepted(delivery, outcome, notification)
    return outcome


def _filed(integration: AlertIntegration, notification: Notification, *, body_digest: str, now: datetime) -> Outcome:
    key_digest = digest(notification.key)
    group = _locked_open_group(integration, key_digest)
    earlier = _earlier_delivery(integration, key_digest, body_digest, now)
    if earlier is not None:
        return Outcome(earlier, "retried")
    if not notification.alerts:
        return Outcome(group, "dropped")
    result = "repeated"
    if group is None:
        if not notification.firing:
            return Outcome(None, "ignored")
        group = _reopened_group(integration, key_digest, now)
        result = "reopened"
    if group is None:
        group, created = _claimed_group(integration, notification, key_digest)
        if not created and group.last_payload_digest == body_digest:
            # A parallel copy of this delivery opened the group while this one waited for it.
            return Outcome(group, "retried")
        result = "created" if created else "repeated"
    if result == "created":
        group.incident, _ = incident_create(
            reporter=integration.account, title=notification.title, description=notification.description,
            severity=notification.severity, category=integration.default_category if integration.default_category and
            integration.default_category.is_active else None,
        )
    change = merged(group.alerts, notification)
    group.alerts, group.truncated_alerts = change.alerts, notification.truncated
    group.external_url = notification.external_url or group.external_url
    group.group_labels = notification.group_labels or group.group_labels
    group.notifications += 1
    group.last_payload_digest, group.last_received_at = body_digest, now
    if all_clear(change, notification):
        result = _resolve(integration, group) if result == "repeated" else result
    else:
        _follow(integration, group, change, reopen=result == "reopened", created=result == "created")
    group.save()
    return Outcome(group, result)


def _locked_open_group(integration: AlertIntegration, key_digest: str) -> AlertGroup | None:
    """
    The group's open row, locked until the end of the transaction, then its incident's
    row, whose status decides: a group whose incident people resolved is closed first.
    """
    group = AlertGroup.objects.select_for_update(of=("self",)).filter(
        integration=integration, key_digest=key_digest, is_open=True).first()
    if group is None or group.incident_id is None:
        return group
    group.incident = _locked_incident(group.incident_id)
    if group.incident.status not in UNRESOLVED:
        group.is_open = False
        group.save(update_fields=["is_open"])
        return None
    return group


def _locked_incident(pk: int) -> Incident:
    """The incident's row, locked as every writer of incidents locks it, before any audit row is written."""
    return Incident.objects.select_for_update(no_key=True).get(pk=pk)


def _reopened_group(integration: AlertIntegration, key_digest: str, now: datetime) -> AlertGroup | None:
    """
    With reopen_within_minutes, the group whose incident was resolved that recently,
    open again (its incident row locked); None without one, or when a parallel delivery
    opened a new group for the key first.
    """
    if not integration.reopen_within_minutes:
        return None
    since = now - timedelta(minutes=integration.reopen_within_minutes)
    group = (AlertGroup.objects.select_for_update(of=("self",))
             .filter(integration=integration, key_digest=key_digest, is_open=False, incident__resolved_at__gte=since)
             .order_by("-last_received_at").first())
    if group is None:
        return None
    assert group.incident_id is not None
    group.incident = _locked_incident(group.incident_id)
    if group.incident.status in UNRESOLVED or group.incident.resolved_at is None or group.incident.resolved_at < since:
        return None
    try:
        with transaction.atomic():
            group.is_open = True
            group.save(update_fields=["is_open"])
    except IntegrityError:
        return None
    return group


def _claimed_group(integration: AlertIntegration, notification: Notification, key_digest: str) -> tuple[AlertGroup, bool]:
    """
    A new open group for this key, or the one a parallel delivery just opened: the
    unique constraint makes the second insert wait for the first transaction and fail,
    and the row it then reads has that delivery's incident.
    """
    try:
        with transaction.atomic():
            return AlertGroup.objects.create(integration=integration, key_digest=key_digest,
                                             key=notification.key[:255]), True
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


def _follow(integration: AlertIntegration, group: AlertGroup, change: Change, *, reopen: bool, created: bool) -> None:
    """
    The incident follows its still-firing group: reopened, made more severe, told who
    joined and left. The writes that move the incident counts (status, severity) come
    before the audit row that only the chain's lock guards, as in every writer.
    """
    incident = group.incident
    assert incident is not None
    account = integration.account
    if reopen:
        incident = incident_transition(incident, actor=account, name="reopen")
    severity = min((entry["severity"] for entry in change.firing), default=incident.severity)
    if severity < incident.severity:
        incident = incident_severity_raise(incident, actor=account, severity=severity)
    if not created:
        changes: dict[str, Any] = {"notifications": [group.notifications - 1, group.notifications]}
        if change.joined:
            changes["alerts_joined"] = [None, listed(change.joined)]
        if change.left:
            changes["alerts_left"] = [None, listed(change.left)]
        audit_record(Action.ALERT_REPEATED, actor=account, target=incident, changes=changes)
    group.incident = incident


def _resolve(integration: AlertIntegration, group: AlertGroup) -> str:
    """
    Every alert of the group resolved: the incident is resolved if the integration says
    so, then a comment says why. Resolving first takes the incident counts' rows before
    the audit chain's lock, the order of every writer; the comment's audit row first
    would hold the chain while waiting for those rows, and deadlock with a responder
    moving another incident.
    """
    incident = group.incident
    assert incident is not None
    resolving = integration.resolve_on_resolved
    if resolving:
        incident = group.incident = incident_resolve_from_monitoring(incident, actor=integration.account)
        group.is_open = False
    comment_add(incident, author=integration.account, body=(
        "<p>Monitoring reports every alert of this group resolved."
        + (" The incident is resolved with it.</p>" if resolving else "</p>")
    ))
    return "resolved"
