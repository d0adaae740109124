"""
Every change to incidents, comments and categories goes through these functions: each
validates, writes inside one transaction together with its audit row, and returns the
object. Views and the admin call them; nothing else saves these models.

The rows they lock to queue writers (`select_for_update(no_key=True)`, FOR NO KEY UPDATE)
still let other transactions check foreign keys to them. A plain FOR UPDATE blocks those
checks, which PostgreSQL runs at COMMIT (Django's constraints are deferred): a comment
holding the audit chain's lock then waited at its commit for a report by its author,
which had locked the author's row and waited for the chain, and one of them failed as a
deadlock. The incident rows are locked the same way, so no such order can form on them.
"""
from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.base import File
from django.db import transaction
from django.db.models import F, Model, Q, Sum
from django.utils import timezone

from accounts.limits import counted
from accounts.models import User
from oncall import services as oncall
from outbound.models import Event
from audit.models import Action
from audit.services import audit_record
from common.text import clean_plain_text, clean_rich_text

from . import attachments, caching, events, notifications, permissions
from .attachments import Upload
from .models import Attachment, Category, Comment, Incident, Severity
from .workflow import MONITORING_RESOLVE, TRANSITIONS, Transition

EDITABLE_FIELDS = ("title", "description", "category", "severity", "assignee")
TRIAGE_FIELDS = frozenset({"assignee"})
# Descriptions are sanitised again each time they are shown: their length is bounded.
DESCRIPTION_MAX_LENGTH = 50_000
# A report identical to one the same person sent this recently is taken for a resubmission.
DUPLICATE_REPORT_WINDOW = timedelta(minutes=10)


REPORT_WINDOW = timedelta(hours=1)


class ReportLimitReached(Exception):
    """A person filed INCIDENT_REPORTS_PER_HOUR incidents within the hour; the message says when to retry."""

    def __init__(self) -> None:
        super().__init__(f"You have reported {settings.INCIDENT_REPORTS_PER_HOUR} incidents within an hour, the most "
                         "anyone may. Add to one of them, or ask a responder, until the hour is over.")
        self.retry_after = int(REPORT_WINDOW.total_seconds())


def incident_report_count(reporter: User) -> None:
    """
    Count one report `reporter` sends through the report form or the API, and refuse it
    past INCIDENT_REPORTS_PER_HOUR within the hour (in the database, which never evicts),
    so that no account can fill the list and the responders' queue. Alert ingestion and an
    administrator reporting for someone are not counted here.
    """
    if counted(f"incident-reports:{reporter.pk}", window=REPORT_WINDOW) > settings.INCIDENT_REPORTS_PER_HOUR:
        raise ReportLimitReached()


class StaleIncidentError(Exception):
    """The incident changed after the form was loaded; `current` holds the newer values."""

    def __init__(self, current: Incident) -> None:
        super().__init__("This incident was changed by someone else after you opened it.")
        self.current = current


def _display(instance: Model, name: str) -> Any:
    """A JSON-friendly picture of one field for the audit trail: choice labels, not codes, as people read them."""
    label = getattr(instance, f"get_{name}_display", None)
    value = label() if label else getattr(instance, name)
    if value is None or isinstance(value, (str, int, bool)):
        return value
    return str(value)


def incident_create(
    *,
    reporter: User,
    actor: User | None = None,
    title: str,
    description: str,
    severity: int = Severity.SEV3,
    category: Category | None = None,
    submission_token: uuid.UUID | None = None,
    files: Sequence[File] = (),
) -> tuple[Incident, bool]:
    """
    Record a new incident reported by `reporter`. Returns the incident and whether it
    was created. A form submitted again returns the incident its first submission
    created instead of a duplicate: the same form (same `submission_token`), or the
    form reloaded and sent again (a new token, but the same title and description
    from the same reporter within DUPLICATE_REPORT_WINDOW).
    `actor` is who filed it when that is not the reporter (an administrator reporting on
    their behalf): the audit row names the actor, with the reporter "on behalf of", and
    the reporter is told by e-mail.
    """
    actor = actor or reporter
    on_behalf = actor.pk != reporter.pk
    incident = Incident(
        title=clean_plain_text(title),
        description=clean_rich_text(description),
        severity=severity,
        category=category,
        reporter=reporter,
        submission_token=submission_token,
    )
    _check_description(incident.description)
    incident.full_clean(exclude=["submission_token"])
    uploads = attachments.inspect_all(files)
    with attachments.removed_on_failure() as stored, transaction.atomic():
        if submission_token is not None:
            # One reporter's submissions queue behind each other, so two racing copies of
            # a form cannot both miss the other and insert twice.
            User.objects.select_for_update(no_key=True).get(pk=reporter.pk)
            earlier = Incident.objects.filter(reporter=reporter).filter(
                Q(submission_token=submission_token)
                | Q(title=incident.title, description=incident.description,
                    created_at__gte=timezone.now() - DUPLICATE_REPORT_WINDOW)
            ).first()
            if earlier is not None:
                return earlier, False
        incident.save(force_insert=True)
        caching.incidents_changed()
        changes = {name: [None, _display(incident, name)] for name in ("title", "severity", "category")}
        added = _attach(incident, uploads, stored=stored, uploaded_by=actor)
        if added:
            changes["attachments"] = [None, [attachment.description() for attachment in added]]
        if on_behalf:
            changes["on_behalf_of"] = [None, _display(incident, "reporter")]
        audit_record(Action.INCIDENT_REPORTED, actor=actor, target=incident, changes=changes)
        notifications.notify_reported(incident, actor=actor)
        events.incident_event(Event.INCIDENT_REPORTED, incident, actor=actor)
        _escalate(incident)
        if on_behalf:
            notifications.notify_reported_on_behalf(incident, actor=actor)
    return incident, True


def _checked_edit(incident: Incident, *, actor: User, values: dict[str, Any]) -> dict[str, Any]:
    """The edit `actor` asked for, refused if not theirs to make, with its text sanitised."""
    if not permissions.can_edit(actor, incident):
        raise PermissionDenied("You may not edit this incident.")
    unknown = set(values) - set(EDITABLE_FIELDS)
    if unknown:
        raise ValueError(f"Not editable: {', '.join(sorted(unknown))}")
    if values.keys() & TRIAGE_FIELDS and not permissions.can_triage(actor):
        raise PermissionDenied("Only responders may assign incidents.")
    assignee = values.get("assignee")
    if assignee is not None and not (assignee.is_staff and assignee.is_active):
        raise ValidationError({"assignee": "Only an active responder (staff) can be assigned an incident."})
    if values.get("severity", incident.severity) != incident.severity and not permissions.can_set_severity(actor, incident):
        raise PermissionDenied("Severity is the responders' to set once they have taken up the incident.")
    cleaners = {"title": clean_plain_text, "description": clean_rich_text}
    cleaned = {name: cleaners[name](value) if name in cleaners else value for name, value in values.items()}
    _check_description(cleaned.get("description", ""))
    return cleaned


def _check_description(description: str) -> None:
    if len(description) > DESCRIPTION_MAX_LENGTH:
        raise ValidationError({"description": f"A description may have at most {DESCRIPTION_MAX_LENGTH:,} characters "
                                              f"(this one has {len(description):,}); attach long logs as files."})


def incident_update(
    incident: Incident, *, actor: User, expected_version: int, **values: Any
) -> Incident:
    """
    Apply field edits to `incident`, refusing with StaleIncidentError when it changed
    since `expected_version` was read (nothing is written then). Only the fields that
    really change are written and audited; triage fields need a responder.
    """
    with transaction.atomic():
        current = Incident.objects.select_for_update(no_key=True).get(pk=incident.pk)
        if current.version != expected_version:
            raise StaleIncidentError(current)
        # Checked on the locked row: the caller's copy may predate a change of status or assignee.
        values = _checked_edit(current, actor=actor, values=values)
        changed = {name: value for name, value in values.items() if getattr(current, name) != value}
        if not changed:
            return current
        before = {name: _display(current, name) for name in changed}
        previous_severity = current.severity
        for name, value in changed.items():
            setattr(current, name, value)
        current.full_clean(exclude=["submission_token"])
        current.version = F("version") + 1
        current.save(update_fields=[*changed, "version", "updated_at"])
        caching.incidents_changed()
        current.refresh_from_db()
        diff = {name: [before[name], _display(current, name)] for name in changed}
        if "assignee" in diff:
            audit_record(Action.INCIDENT_ASSIGNED, actor=actor, target=current, changes={"assignee": diff.pop("assignee")})
            notifications.notify_assigned(current, actor=actor)
            events.incident_event(Event.INCIDENT_ASSIGNED, current, actor=actor)
        if diff:
            audit_record(Action.INCIDENT_EDITED, actor=actor, target=current, changes=diff)
            events.incident_event(Event.INCIDENT_UPDATED, current, actor=actor, changes=diff)
        if "severity" in changed:
            notifications.notify_escalated(current, actor=actor, previous_severity=previous_severity)
            _escalate(current)
    return current


def _escalate(incident: Incident) -> None:
    """Start paging the on-call for an open, unacknowledged incident whose category and severity have a policy."""
    if incident.is_open and incident.acknowledged_at is None:
        oncall.escalation_start(incident_id=incident.pk, severity=incident.severity, category_id=incident.category_id,
                                subject=f"incident #{incident.pk}, {incident.get_severity_display()}",
                                url=settings.SITE_URL + incident.get_absolute_url())


def incident_acknowledge(incident: Incident, *, actor: User) -> Incident:
    """
    `actor` (a responder) takes note of the incident: the first acknowledgement is
    recorded with its time and person, and paging stops. Acknowledging again changes
    nothing and is not an error (two people answering the same page).
    """
    if not permissions.can_triage(actor):
        raise PermissionDenied("Only responders may acknowledge incidents.")
    with transaction.atomic():
        current = Incident.objects.select_for_update(no_key=True).get(pk=incident.pk)
        if current.acknowledged_at is None:
            current.acknowledged_at, current.acknowledged_by = timezone.now(), actor
            current.version = F("version") + 1
            current.save(update_fields=["acknowledged_at", "acknowledged_by", "version", "updated_at"])
            caching.incidents_changed()
            current.refresh_from_db()
            audit_record(Action.INCIDENT_EDITED, actor=actor, target=current,
                         changes={"acknowledged_by": [None, str(actor)]})
        oncall.escalation_stop(incident_id=current.pk, reason=f"acknowledged by {actor}")
    return current


def incident_transition(incident: Incident, *, actor: User, name: str, expected_version: int | None = None) -> Incident:
    """
    Move `incident` along the workflow. Refuses an unknown transition, one not allowed
    from the current status, or (with `expected_version`) one based on a stale page,
    changing nothing in each case.
    """
    if not permissions.can_transition(actor, incident):
        raise PermissionDenied("Only responders may change an incident's status.")
    transition = TRANSITIONS.get(name)
    if transition is None:
        raise ValidationError(f"“{name}” is not a workflow action.")
    return _transitioned(incident, actor=actor, transition=transition, expected_version=expected_version)


def incident_resolve_from_monitoring(incident: Incident, *, actor: User) -> Incident:
    """
    The monitoring integration whose alerts opened `incident` (its service account,
    `actor`) resolves it, from Open or In progress, without acknowledging it on the way.
    """
    if not (actor.is_service_account and permissions.can_transition(actor, incident)):
        raise PermissionDenied("Only the integration whose alerts opened an incident may resolve it from monitoring.")
    return _transitioned(incident, actor=actor, transition=MONITORING_RESOLVE)


def _transitioned(incident: Incident, *, actor: User, transition: Transition, expected_version: int | None = None) -> Incident:
    with transaction.atomic():
        current = Incident.objects.select_for_update(no_key=True).get(pk=incident.pk)
        if expected_version is not None and current.version != expected_version:
            raise StaleIncidentError(current)
        if current.status not in transition.sources:
            raise ValidationError(
                f"An incident that is {current.get_status_display()} cannot be moved with “{transition.label}”."
            )
        before_status = current.status
        _apply(transition, current, actor=actor)
        current.version = F("version") + 1
        current.save()
        caching.incidents_changed()
        current.refresh_from_db()
        audit_record(
            Action.INCIDENT_TRANSITIONED,
            actor=actor,
            target=current,
            changes={"status": [before_status, current.status], "transition": [None, transition.name]},
        )
        notifications.notify_transitioned(current, actor=actor, transition=transition)
        if not current.is_open or current.acknowledged_at is not None:
            oncall.escalation_stop(incident_id=current.pk, reason=f"{transition.label.lower()} by {actor}")
        events.incident_event(Event.INCIDENT_TRANSITIONED, current, actor=actor, transition=transition.name,
                              previous_status=before_status)
    return current


def incident_severity_raise(incident: Incident, *, actor: User, severity: int) -> Incident:
    """
    A monitoring integration's account (`actor`) raises the severity of the incident its
    alerts opened, because a more severe alert joined the group. Never lowers it: once
    raised, only responders bring it down. Returns the incident unchanged if it is
    already as severe.
    """
    if not (actor.is_service_account and permissions.can_transition(actor, incident)):
        raise PermissionDenied("Only the integration whose alerts opened an incident may raise its severity.")
    with transaction.atomic():
        current = Incident.objects.select_for_update(no_key=True).get(pk=incident.pk)
        previous = current.severity
        if severity >= previous:
            return current
        current.severity = severity
        current.version = F("version") + 1
        current.save(update_fields=["severity", "version", "updated_at"])
        caching.incidents_changed()
        current.refresh_from_db()
        changes = {"severity": [Severity(previous).label, _display(current, "severity")]}
        audit_record(Action.INCIDENT_EDITED, actor=actor, target=current, changes=changes)
        notifications.notify_escalated(current, actor=actor, previous_severity=previous)
        events.incident_event(Event.INCIDENT_UPDATED, current, actor=actor, changes=changes)
        _escalate(current)
    return current


def _apply(transition: Transition, incident: Incident, *, actor: User) -> None:
    """Set the status and the lifecycle stamps a transition names; the first to acknowledge is recorded with them."""
    now = timezone.now()
    incident.status = transition.target
    for stamp in transition.sets:
        setattr(incident, stamp, now)
    for stamp in transition.sets_once:
        if getattr(incident, stamp) is None:
            setattr(incident, stamp, now)
    if incident.acknowledged_at is not None and incident.acknowledged_by_id is None:
        incident.acknowledged_by = actor
    for stamp in transition.clears:
        setattr(incident, stamp, None)


def comment_add(
    incident: Incident, *, author: User, body: str, internal: bool = False, files: Sequence[File] = ()
) -> Comment:
    """
    Add a comment, or an internal note when `internal` (responders only), with `files`
    attached to it (as internal as the comment). A refused file refuses the comment:
    nothing is stored.
    """
    if not permissions.can_comment(author, incident):
        raise PermissionDenied("You may not comment on this incident.")
    if internal and not permissions.can_write_internal_note(author):
        raise PermissionDenied("Only responders may write internal notes.")
    cleaned = clean_rich_text(body)
    if not clean_plain_text(cleaned):
        raise ValidationError({"body": "Write something before posting."})
    uploads = attachments.inspect_all(files, already=_attached_size(incident))
    with attachments.removed_on_failure() as stored, transaction.atomic():
        comment = Comment.objects.create(incident=incident, author=author, body=cleaned, internal=internal)
        changes: dict[str, Any] = {"comment": [None, comment.pk]}
        added = _attach(incident, uploads, stored=stored, uploaded_by=author, comment=comment)
        if added:
            changes["attachments"] = [None, [attachment.description() for attachment in added]]
        audit_record(
            Action.INCIDENT_NOTE_ADDED if internal else Action.INCIDENT_COMMENTED,
            actor=author,
            target=incident,
            changes=changes,
        )
        notifications.notify_commented(comment)
        events.comment_event(comment)
    return comment


def _attach(
    incident: Incident, uploads: list[Upload], *, stored: list[str], uploaded_by: User, comment: Comment | None = None
) -> list[Attachment]:
    """
    Store checked uploads on `incident` within the caller's transaction (inside
    attachments.removed_on_failure, which collects `stored`), refusing the lot if
    they would take the incident past ATTACHMENT_MAX_INCIDENT_SIZE. The incident row
    is locked first, so two submissions cannot both fit under the limit together.
    """
    if not uploads:
        return []
    Incident.objects.select_for_update(no_key=True).filter(pk=incident.pk).values_list("pk").get()
    _check_total(incident, uploads)
    return [
        Attachment.objects.create(
            incident=incident, comment=comment, uploaded_by=uploaded_by, stored_name=attachments.store(upload, stored),
            name=upload.name, content_type=upload.kind.content_type, size=upload.size, sha256=upload.sha256,
        )
        for upload in uploads
    ]


def _attached_size(incident: Incident) -> int:
    return incident.attachments.aggregate(total=Sum("size"))["total"] or 0


def _check_total(incident: Incident, uploads: list[Upload]) -> None:
    """The total again, on the locked row and with the final sizes (a re-encoded image may have grown)."""
    attachments.check_sizes([(upload.name, upload.size) for upload in uploads], already=_attached_size(incident))


def attachment_check(incident: Incident, *, files: Sequence[File]) -> None:
    """
    Refuse, as attachment_add would, files that may not be attached to `incident`;
    stores nothing. For a form that shows every refusal before anything is written.
    """
    attachments.inspect_all(files, already=_attached_size(incident))


def attachment_add(
    incident: Incident, *, actor: User, files: Sequence[File], comment: Comment | None = None
) -> list[Attachment]:
    """
    Attach files to an existing incident, or to one of its comments, outside a report or
    a comment (the admin does). Responders only; refused files store nothing.
    """
    if not permissions.can_manage_attachments(actor):
        raise PermissionDenied("Only responders may add attachments here.")
    if comment is not None and comment.incident_id != incident.pk:
        raise ValidationError({"comment": "This comment belongs to another incident."})
    uploads = attachments.inspect_all(files, already=_attached_size(incident))
    with attachments.removed_on_failure() as stored, transaction.atomic():
        added = _attach(incident, uploads, stored=stored, uploaded_by=actor, comment=comment)
        for attachment in added:
            audit_record(Action.ATTACHMENT_ADDED, actor=actor, target=incident,
                         changes={"attachment": [None, attachment.description()],
                                  **({"comment": [None, comment.pk]} if comment else {})})
    return added


def attachment_remove(attachment: Attachment, *, actor: User) -> None:
    """
    Remove an attachment (responders only). The audit row keeps its name and hash; the
    file goes once the removal is committed, so a rollback leaves row and file together.
    """
    if not permissions.can_manage_attachments(actor):
        raise PermissionDenied("Only responders may remove attachments.")
    with transaction.atomic():
        audit_record(Action.ATTACHMENT_REMOVED, actor=actor, target=attachment.incident,
                     changes={"attachment": [attachment.description(), None]})
        stored_name = attachment.stored_name
        attachment.delete()
        transaction.on_commit(lambda: attachments.discard([stored_name]))


def category_save(category: Category, *, actor: User | None) -> Category:
    """Create or change a category (the admin's only way to write one)."""
    is_new = category.pk is None
    before: dict[str, Any] = {}
    if not is_new:
        before = dict(Category.objects.values("name", "description", "is_active").get(pk=category.pk))
    category.name = clean_plain_text(category.name)
    category.description = clean_plain_text(category.description)
    category.full_clean()
    with transaction.atomic():
        category.save()
        after = {"name": category.name, "description": category.description, "is_active": category.is_active}
        diff = {name: [before.get(name), value] for name, value in after.items() if before.get(name) != value}
        action = Action.CATEGORY_CREATED if is_new else Action.CATEGORY_CHANGED
        audit_record(action, actor=actor, target=category, changes=diff)
    return category


def category_delete(category: Category, *, actor: User | None) -> None:
    with transaction.atomic():
        audit_record(Action.CATEGORY_DELETED, actor=actor, target=category, changes={"name": [category.name, None]})
        category.delete()
