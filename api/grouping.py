"""
What one notification says about its alert group, whatever sent it, and how it
changes what the group's incident knows: which alerts fire, which joined, which left,
and whether anything of the group may still be firing.

Nothing a sender can make is refused for its size or shape: a value longer than
VALUE_LIMIT is cut with the cut said in the text, and a group of more than
ALERTS_IN_FULL alerts keeps the first ones in full and the others as their state and
name, counted on the incident.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

VALUE_LIMIT = 10_000
NAME_LIMIT = 200
SUMMARY_LIMIT = 500
ALERTS_IN_FULL = 100
FIRING, RESOLVED = "firing", "resolved"
# Alertmanager's zero time: an alert without an end (Go's time.Time{}).
NO_TIME = "0001-01-01T00:00:00Z"


def cut(text: str, limit: int = VALUE_LIMIT) -> str:
    """`text`, or its first `limit` characters with the cut said in it."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}… [cut: {len(text) - limit:,} of {len(text):,} characters not kept]"


def cut_all(mapping: Mapping[str, Any], limit: int = VALUE_LIMIT) -> dict[str, str]:
    return {cut(str(name), NAME_LIMIT): cut(str(value), limit) for name, value in mapping.items()}


@dataclass(frozen=True)
class Alert:
    """One alert of a notification: Alertmanager's alert, Grafana's, or a generic one."""

    fingerprint: str
    firing: bool
    labels: dict[str, str]
    annotations: dict[str, str]
    severity: int
    starts_at: str = ""
    ends_at: str = ""
    generator_url: str = ""

    @property
    def name(self) -> str:
        """How people tell it from the others of its group: `alertname{label="value", ...}`."""
        others = ", ".join(f'{name}="{value}"' for name, value in sorted(self.labels.items()) if name != "alertname")
        return cut(self.labels.get("alertname", "") + (f"{{{others}}}" if others else ""), NAME_LIMIT)


@dataclass(frozen=True)
class Notification:
    """One delivery, read: what to file, and under which group key."""

    key: str
    firing: bool
    title: str
    description: str
    severity: int
    alerts: tuple[Alert, ...] = ()
    # Alerts of the group the sender left out (Alertmanager's and Grafana's max_alerts).
    truncated: int = 0
    # Alerts the integration's drop matchers left out of `alerts`.
    dropped: int = 0
    external_url: str = ""
    group_labels: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Change:
    """The group's alerts after a notification, and what the notification changed."""

    alerts: dict[str, dict[str, Any]]
    joined: list[str]
    left: list[str]

    @property
    def firing(self) -> list[dict[str, Any]]:
        return [entry for entry in self.alerts.values() if entry["status"] == FIRING]


def _entry(alert: Alert, *, in_full: bool) -> dict[str, Any]:
    entry: dict[str, Any] = {"name": alert.name, "status": FIRING if alert.firing else RESOLVED,
                             "startsAt": alert.starts_at, "endsAt": "" if alert.ends_at == NO_TIME else alert.ends_at,
                             "severity": alert.severity}
    if in_full:
        summary = alert.annotations.get("summary") or alert.annotations.get("description", "")
        entry.update(labels=alert.labels, summary=cut(summary, SUMMARY_LIMIT), generatorURL=alert.generator_url)
    return entry


def merged(known: Mapping[str, dict[str, Any]], notification: Notification) -> Change:
    """
    The group's alerts once `notification` is applied to what was `known`. A body that
    left nothing out (no truncation) lists the whole group, so a known firing alert
    missing from it has left the group: Alertmanager forgets an alert once its
    resolution was sent.
    """
    alerts = dict(known)
    in_full = sum(1 for entry in alerts.values() if "labels" in entry)
    joined, left = [], []
    for alert in notification.alerts:
        before = alerts.get(alert.fingerprint)
        was_firing = before is not None and before["status"] == FIRING
        if alert.firing and not was_firing:
            joined.append(alert.name)
        elif not alert.firing and was_firing:
            left.append(alert.name)
        full = before is not None and "labels" in before or in_full < ALERTS_IN_FULL
        in_full += full and (before is None or "labels" not in before)
        alerts[alert.fingerprint] = _entry(alert, in_full=full)
    if notification.truncated == 0:
        sent = {alert.fingerprint for alert in notification.alerts}
        for fingerprint, entry in alerts.items():
            if fingerprint not in sent and entry["status"] == FIRING:
                alerts[fingerprint] = {**entry, "status": RESOLVED}
                left.append(entry["name"])
    return Change(alerts=alerts, joined=joined, left=left)


def all_clear(change: Change, notification: Notification) -> bool:
    """Nothing of the group is known to fire, and nothing the sender left out might be."""
    return not notification.firing and notification.truncated == 0 and not change.firing


def listed(names: list[str], limit: int = 10) -> list[str]:
    """At most `limit` names, then how many more, for a timeline row."""
    return names if len(names) <= limit else [*names[:limit], f"and {len(names) - limit:,} more"]
