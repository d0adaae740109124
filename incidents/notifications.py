"""
Who is told what by e-mail. The services call these functions inside their
transaction; each one queues one mail per recipient, all at once, in that same
transaction (outbound.services.mails_enqueue), so nothing is sent for a change that rolls back,
nothing is lost after one that commits, and a worker sends it, retrying while the mail
server is down. Each mail's key names its event and recipient, so an event handled
twice mails nobody twice.

The rules (each user can turn each kind off in their preferences):
- the assignee, when an incident is assigned to them;
- the reporter, when the status of their incident changes;
- the reporter, when a public comment is added (internal notes never mail anyone);
- every responder, when a SEV1 or SEV2 incident is reported, or when an edit raises
  an incident to SEV1 or SEV2 (from a lower severity: SEV3 to SEV2, SEV2 to SEV1); at
  most once an hour per incident, and at most MAJOR_MAILS_PER_REPORTER an hour caused
  by one reporter, then one digest (major_mail_budget).
Nobody is mailed about their own action, nor without an address, nor when inactive.

Subjects carry only the incident number and the kind of event: they show up in
lock screens and mail server logs, so titles and text stay in the body.
"""
from __future__ import annotations

import enum
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db.models import QuerySet
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from accounts.limits import counted
from accounts.models import User
from outbound.services import Mail, mails_enqueue

from .models import Comment, Incident, Severity

if TYPE_CHECKING:
    from .workflow import Transition

logger = logging.getLogger(__name__)

MAJOR_SEVERITIES = (Severity.SEV1, Severity.SEV2)


def _recipients(actor: User | None, **filters: Any) -> QuerySet[User]:
    people = User.objects.filter(is_active=True, **filters).exclude(email="")
    return people.exclude(pk=actor.pk) if actor is not None else people


def _mail(template: str, subject: str, recipient: User, *, key: str, context: dict[str, Any]) -> Mail:
    """One recipient's mail, with dates in their own time zone."""
    zone = recipient.time_zone or settings.TIME_ZONE
    with timezone.override(zone):
        context = {**context, "recipient": recipient}
        text = render_to_string(f"incidents/email/{template}.txt", context)
        html = render_to_string(f"incidents/email/{template}.html", context)
    return Mail(key=f"{key}:{recipient.pk}", event=f"mail.{template}", to=recipient.email, subject=subject,
                text=text, html=html)


# Set while writing data nobody needs telling about (demo seeding): nothing is scheduled.
_suppressed: ContextVar[bool] = ContextVar("notifications_suppressed", default=False)


@contextmanager
def suppressed() -> Iterator[None]:
    """Run services without mailing anyone, e.g. `manage.py seed --demo` creating dozens of incidents."""
    token = _suppressed.set(True)
    try:
        yield
    finally:
        _suppressed.reset(token)


def _schedule(template: str, incident: Incident, event: str, recipients: QuerySet[User], *, key: str,
              **context: Any) -> None:
    """Queue `template` for each recipient; `key` names the event once, e.g. the incident's version it made."""
    if _suppressed.get():
        return
    context = {
        **context,
        "incident": incident,
        "incident_url": settings.SITE_URL + incident.get_absolute_url(),
        "preferences_url": settings.SITE_URL + reverse("accounts:preferences"),
    }
    subject = f"[Incident #{incident.pk}] {event}"
    mails_enqueue(_mail(template, subject, recipient, key=key, context=context) for recipient in recipients)


def _event_key(incident: Incident, template: str) -> str:
    return f"incident:{incident.pk}:v{incident.version}:{template}"


# Major-incident mail per incident: at most one in this window.
MAJOR_MAIL_INTERVAL = timedelta(hours=1)
# Major-incident mail caused by one reporter (not a responder): at most this many in
# MAJOR_MAIL_INTERVAL; the next one becomes a digest, and later ones are not mailed.
MAJOR_MAILS_PER_REPORTER = 3


class MajorMail(enum.Enum):
    SEND = "send"
    DIGEST = "digest"
    HELD = "held"


def _major_mail_due(incident: Incident) -> bool:
    """
    True for the first SEV1/SEV2 mail of an incident in MAJOR_MAIL_INTERVAL, and counts it
    (in the database, which never evicts), so flipping severity back and forth cannot
    turn the responders' inboxes into a pager.
    """
    return counted(f"major-incident-mail:incident:{incident.pk}", window=MAJOR_MAIL_INTERVAL) == 1


def major_mail_budget(actor: User) -> MajorMail:
    """
    Whether a major-incident mail caused by `actor` goes out: responders' always do; a
    reporter's first MAJOR_MAILS_PER_REPORTER in MAJOR_MAIL_INTERVAL do, the next becomes
    one digest, and the rest are held (the incidents are filed and listed as ever).
    """
    if actor.is_staff:
        return MajorMail.SEND
    sent = counted(f"major-incident-mail:reporter:{actor.pk}", window=MAJOR_MAIL_INTERVAL)
    if sent <= MAJOR_MAILS_PER_REPORTER:
        return MajorMail.SEND
    return MajorMail.DIGEST if sent == MAJOR_MAILS_PER_REPORTER + 1 else MajorMail.HELD


def major_digest_context(*, actor: User) -> dict[str, Any]:
    """What the digest tells responders: who, how many, and where the incidents are listed."""
    return {
        "actor": actor,
        "budget": MAJOR_MAILS_PER_REPORTER,
        "list_url": settings.SITE_URL + reverse("incidents:list") + "?severity=1",
    }


def _notify_major(template: str, incident: Incident, event: str, *, actor: User, **context: Any) -> None:
    responders = _recipients(actor, is_staff=True, notify_major=True)
    budget = major_mail_budget(actor)
    if budget is MajorMail.SEND:
        _schedule(template, incident, event, responders, key=_event_key(incident, template), **context)
    elif budget is MajorMail.DIGEST:
        _schedule("major_digest", incident, "Major incidents from one reporter", responders,
                  key=_event_key(incident, "major_digest"), **major_digest_context(actor=actor))
    else:
        logger.warning("Major-incident mail for incident #%s not sent: its reporter (user %s) is past the hourly budget",
                       incident.pk, actor.pk)


def notify_reported(incident: Incident, *, actor: User) -> None:
    if incident.severity in MAJOR_SEVERITIES and _major_mail_due(incident):
        _notify_major("reported", incident, f"New {Severity(incident.severity).name} incident", actor=actor)


def notify_reported_on_behalf(incident: Incident, *, actor: User) -> None:
    """The reporter always hears of a report filed in their name: it is theirs to see and answer for."""
    reporter = _recipients(actor, pk=incident.reporter_id)
    _schedule("reported_on_behalf", incident, "Reported in your name", reporter, actor=actor,
              key=_event_key(incident, "reported_on_behalf"))


def notify_escalated(incident: Incident, *, actor: User, previous_severity: int) -> None:
    if incident.severity in MAJOR_SEVERITIES and incident.severity < previous_severity and _major_mail_due(incident):
        _notify_major("escalated", incident, f"Raised to {Severity(incident.severity).name}", actor=actor,
                      previous_severity=Severity(previous_severity).label)


def notify_assigned(incident: Incident, *, actor: User) -> None:
    if incident.assignee_id is not None:
        assignee = _recipients(actor, pk=incident.assignee_id, notify_assigned=True)
        _schedule("assigned", incident, "Assigned to you", assignee, actor=actor, key=_event_key(incident, "assigned"))


def notify_transitioned(incident: Incident, *, actor: User, transition: Transition) -> None:
    reporter = _recipients(actor, pk=incident.reporter_id, notify_status=True)
    _schedule("transitioned", incident, "Status changed", reporter, actor=actor, transition=transition,
              key=_event_key(incident, "transitioned"))


def notify_commented(comment: Comment) -> None:
    if not comment.internal:
        reporter = _recipients(comment.author, pk=comment.incident.reporter_id, notify_comments=True)
        _schedule("commented", comment.incident, "New comment", reporter, comment=comment,
                  key=f"comment:{comment.pk}:commented")
