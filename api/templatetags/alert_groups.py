"""
`{% incident_alerts incident %}`: on an incident that monitoring opened, the alert
groups behind it as their latest notifications describe them, for responders (staff).
The incidents app's page shows it without importing this app.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

from django import template

from incidents.models import Incident

from ..grouping import ALERTS_IN_FULL, FIRING
from ..models import AlertGroup, IntegrationKind

register = template.Library()


def safe_link(url: str) -> str:
    """`url` if it is an http(s) address, else empty: a sender's text never becomes a javascript: link."""
    return url if urlsplit(url).scheme in ("http", "https") and urlsplit(url).netloc else ""


@dataclass(frozen=True)
class GroupPanel:
    group: AlertGroup
    alerts: list[dict[str, Any]]
    firing: int
    resolved: int
    not_listed: int
    sender_link: str

    @classmethod
    def of(cls, group: AlertGroup) -> GroupPanel:
        entries = sorted(group.alerts.values(), key=lambda entry: (entry["status"] != FIRING, entry["name"]))
        firing = sum(1 for entry in entries if entry["status"] == FIRING)
        shown = [{**entry, "link": safe_link(entry.get("generatorURL", ""))} for entry in entries if "labels" in entry]
        return cls(group=group, alerts=shown, firing=firing, resolved=len(entries) - firing,
                   not_listed=len(entries) - len(shown), sender_link=sender_link(group))


def sender_link(group: AlertGroup) -> str:
    """Alertmanager's own page of the group's alerts (`/#/alerts?filter=...`), or Grafana's alert groups."""
    base = safe_link(group.external_url).rstrip("/")
    if not base:
        return ""
    if group.integration.kind == IntegrationKind.GRAFANA:
        return f"{base}/alerting/groups"
    matchers = ",".join(f'{name}="{value}"' for name, value in sorted(group.group_labels.items()))
    return f"{base}/#/alerts?filter={quote('{' + matchers + '}', safe='')}"


@register.inclusion_tag("api/_incident_alerts.html", takes_context=True)
def incident_alerts(context: template.Context, incident: Incident) -> dict[str, Any]:
    user = context.get("user")
    if not (user is not None and user.is_staff and incident.reporter.is_service_account):
        return {"panels": []}
    groups = AlertGroup.objects.filter(incident=incident).select_related("integration").order_by("-first_received_at")
    return {"panels": [GroupPanel.of(group) for group in groups], "in_full": ALERTS_IN_FULL}
