"""
The events incidents send to webhook and chat subscribers (outbound.services.event_publish),
published inside the change's own transaction. The incident appears as the REST API shows
it to staff, display names instead of login names, plus a link to its page; a test keeps
the two the same.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any

from django.conf import settings

from accounts.models import User
from outbound.models import Event
from outbound.services import event_publish

from .models import Comment, Incident


def _moment(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value is not None else None


def _person(user: User | None) -> dict[str, Any] | None:
    return {"id": user.pk, "name": str(user)} if user is not None else None


def incident_data(incident: Incident) -> dict[str, Any]:
    return {
        "id": incident.pk,
        "title": incident.title,
        "description": incident.description,
        "category": incident.category_id,
        "category_name": incident.category.name if incident.category else None,
        "severity": incident.severity,
        "severity_label": incident.get_severity_display(),
        "status": incident.status,
        "status_label": incident.get_status_display(),
        "reporter": _person(incident.reporter),
        "assignee": _person(incident.assignee),
        "created_at": _moment(incident.created_at),
        "updated_at": _moment(incident.updated_at),
        "acknowledged_at": _moment(incident.acknowledged_at),
        "resolved_at": _moment(incident.resolved_at),
        "closed_at": _moment(incident.closed_at),
        "version": incident.version,
        "url": settings.SITE_URL + incident.get_absolute_url(),
    }


def incident_event(event: Event, incident: Incident, *, actor: User | None, **details: Any) -> None:
    """Publish `event` about `incident`; called after the change is saved, with the saved version."""
    event_publish(event, {"incident": incident_data(incident), "actor": _person(actor), **details},
                  key=f"incident:{incident.pk}:v{incident.version}:{event}")


def comment_event(comment: Comment) -> None:
    """Internal notes go only to subscriptions that include them."""
    data = {
        "incident": incident_data(comment.incident),
        "comment": {"id": comment.pk, "author": _person(comment.author), "body": comment.body,
                    "internal": comment.internal, "created_at": _moment(comment.created_at)},
        "actor": _person(comment.author),
    }
    event_publish(Event.COMMENT_ADDED, data, key=f"comment:{comment.pk}", internal=comment.internal)
