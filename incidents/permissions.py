"""
Per-object rules, used by views (to refuse), templates (to offer only allowed
actions) and tests alike. Seeing an incident is a precondition for every other rule;
views scope their querysets with `Incident.objects.visible_to`, so an incident a user
may not see is a 404 before any of these run.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from .workflow import Status

if TYPE_CHECKING:
    from accounts.models import User

    from .models import Incident


def can_view(user: User, incident: Incident) -> bool:
    return user.is_staff or incident.reporter_id == user.pk


def can_edit(user: User, incident: Incident) -> bool:
    """Responders edit any incident; reporters their own while it is still Open."""
    return user.is_staff or (incident.reporter_id == user.pk and incident.status == Status.OPEN)


def can_set_severity(user: User, incident: Incident) -> bool:
    """
    Responders always; the reporter only until a responder has taken the incident up
    (assigned or acknowledged it). After that severity is triage's decision, and a
    reporter flipping it can neither override them nor trigger major-incident mail.
    """
    return user.is_staff or (can_edit(user, incident) and incident.assignee_id is None and incident.acknowledged_at is None)


def can_triage(user: User) -> bool:
    """Set severity, category and assignee on someone else's report."""
    return user.is_staff


def can_comment(user: User, incident: Incident) -> bool:
    return can_view(user, incident)


def can_write_internal_note(user: User) -> bool:
    return user.is_staff


def can_transition(user: User, incident: Incident) -> bool:
    """Responders; and a monitoring integration's service account for the incidents its alerts opened."""
    return user.is_staff or (user.is_service_account and incident.reporter_id == user.pk)


def can_manage_attachments(user: User) -> bool:
    """Add files outside a report or comment, and remove any attachment: a responder's call."""
    return user.is_staff
