"""
Setting up on-call (audited), starting, running and stopping escalations, and the links
that acknowledge a page.

incidents.services starts an escalation (with plain values: this app sits below
incidents) when an incident is reported at, or raised to, a severity that has a
policy, and stops it when the incident is acknowledged, resolved or closed. Each step
runs in `escalation_advance`, one task per wake-up, inside one transaction that locks
the escalation row: it pages the step's people (a Page row and a queued message per
person and channel: mail, and their own chat or webhook channel if they set one; keyed
so a step run twice pages nobody twice), moves `step`/`round` on and sets `next_at`.
The task carries the row's `generation`; a copy of it that runs twice, late, or on a
second worker finds the generation moved on and does nothing. Until `next_at` the task
wakes every ONCALL_CHECK_SECONDS: when every page of the step is dead in the queue (the
mail bounced after its retries, or the person has no address) nobody was reached, and
the next step runs at once instead of waiting.
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

from django.conf import settings
from django.core import signing
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, models, transaction
from django.db.models import Count, ProtectedError, Q
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django_tasks import task

from accounts.models import User
from audit.models import Action
from audit.services import audit_record
from outbound.models import Delivery, Format, Status, Subscription
from outbound.services import mail_enqueue, page_enqueue

from .models import (
    CalendarFeed, Escalation, EscalationPolicy, EscalationRule, EscalationStep, Override, Page, PageChannel, Rotation,
    RotationMember, Schedule, SwapRequest, SwapStatus, Target, new_feed_secret,
)
from .schedules import plan_for

logger = logging.getLogger(__name__)

LINK_SALT = "oncall.acknowledge"
M = TypeVar("M", bound=models.Model)


def policy_for(*, severity: int, category_id: int | None) -> EscalationRule | None:
    """The rule for this category and severity, else the default for the severity; None when none applies."""
    rules = {rule.category_id: rule for rule in EscalationRule.objects.filter(severity=severity).select_related("policy")
             .filter(Q(category__isnull=True) | Q(category_id=category_id))}
    return rules.get(category_id) or rules.get(None)


def escalation_start(*, incident_id: int, severity: int, category_id: int | None, subject: str,
                     url: str) -> Escalation | None:
    """
    Start paging for an incident, if its category and severity have a policy and it has
    no escalation yet (one per incident: raising it again while paging changes nothing).
    Call inside the transaction of the change: the first step's task commits with it.
    """
    rule = policy_for(severity=severity, category_id=category_id)
    if rule is None or rule.policy is None or not rule.policy.steps.exists():
        return None
    escalation, created = Escalation.objects.get_or_create(
        incident_id=incident_id,
        defaults={"policy": rule.policy, "subject": subject[:300], "url": url, "next_at": timezone.now()})
    if not created:
        return None
    escalation_advance.enqueue(escalation.pk, escalation.generation)
    return escalation


def escalation_stop(*, incident_id: int, reason: str) -> None:
    """Stop paging for the incident (acknowledged, resolved, closed); no later step runs."""
    Escalation.objects.filter(incident_id=incident_id, stopped_at__isnull=True).update(
        stopped_at=timezone.now(), stop_reason=reason[:100], next_at=None)


@task()
def escalation_advance(escalation_id: int, generation: int) -> str:
    """The queue's only task for escalations: look at escalation `escalation_id` again."""
    return advance(escalation_id, generation)


def advance(escalation_id: int, generation: int) -> str:
    with transaction.atomic():
        escalation = (Escalation.objects.select_for_update().select_related("policy")
                      .filter(pk=escalation_id, generation=generation, stopped_at__isnull=True).first())
        if escalation is None:
            return "skipped: stopped, or already advanced by another run"
        now = timezone.now()
        steps = list(escalation.policy.steps.select_related("schedule", "user"))
        due = escalation.next_at is not None and escalation.next_at <= now
        if not due and not _nobody_reached(escalation):
            return _wake_later(escalation, now=now)
        if escalation.step >= len(steps):  # Steps were removed from the policy during the wait.
            escalation.step, escalation.round = 0, escalation.round + 1
        while steps and escalation.round <= escalation.policy.repeat:
            step = steps[escalation.step]
            reached = _page(escalation, step, now=now)
            _move_on(escalation, steps=len(steps))
            if reached:
                escalation.next_at = now + step.wait
                return _wake_later(escalation, now=now)
        reason = "nobody acknowledged" if steps else "the policy has no steps"
        escalation.stopped_at, escalation.stop_reason, escalation.next_at = now, reason, None
        escalation.save(update_fields=["step", "round", "stopped_at", "stop_reason", "next_at"])
        logger.warning("escalation %s ran out of steps unacknowledged", escalation.pk)
        return "exhausted"


def _move_on(escalation: Escalation, *, steps: int) -> None:
    escalation.step += 1
    if escalation.step >= steps:
        escalation.step, escalation.round = 0, escalation.round + 1


def _wake_later(escalation: Escalation, *, now: datetime) -> str:
    assert escalation.next_at is not None
    escalation.generation += 1
    escalation.save(update_fields=["step", "round", "next_at", "generation"])
    wake = min(escalation.next_at, now + timedelta(seconds=settings.ONCALL_CHECK_SECONDS))
    escalation_advance.using(run_after=wake).enqueue(escalation.pk, escalation.generation)
    return f"next look at {wake.isoformat()}"


def _nobody_reached(escalation: Escalation) -> bool:
    """Every page of the step that ran last is dead in the queue (or had nowhere to go)."""
    last = Page.objects.filter(escalation=escalation).order_by("-sent_at", "-pk").first()
    if last is None:
        return False
    pages = Page.objects.filter(escalation=escalation, round=last.round, step=last.step)
    return not pages.exclude(delivery__status=Status.DEAD).exclude(delivery__isnull=True).exists()


def step_people(step: EscalationStep, *, at: datetime) -> list[User]:
    """Who a step pages at `at`: the schedule's on-call, the named person, or every active responder."""
    people = User.objects.filter(is_active=True)
    if step.target == Target.RESPONDERS:
        return list(people.filter(is_staff=True).order_by("pk"))
    if step.target == Target.USER or step.schedule is None:
        person = step.user_id
    else:
        person = plan_for(step.schedule, overrides_from=at).on_call(at)
    return list(people.filter(pk=person)) if person is not None else []


def _page(escalation: Escalation, step: EscalationStep, *, now: datetime) -> bool:
    """Page the step's people through each of their channels; True when at least one has somewhere to be paged."""
    people = step_people(step, at=now)
    own_channels = {channel.owner_id: channel
                    for channel in Subscription.objects.filter(owner__in=people, is_active=True)}
    reached = False
    for person in people:
        routes = _routes(person, own_channels.get(person.pk))
        # Someone with nowhere to be paged still gets a Page row: the timeline shows them as not reached.
        for channel, send in routes or [(PageChannel.MAIL, _nowhere)]:
            page, created = Page.objects.get_or_create(escalation=escalation, round=escalation.round,
                                                       step=escalation.step, user=person, channel=channel,
                                                       defaults={"sent_at": now})
            if created:
                page.delivery = send(page)
                page.save(update_fields=["delivery"])
        reached = reached or bool(routes)
    return reached


def _nowhere(page: Page) -> None:
    return None


def _routes(person: User, own_channel: Subscription | None) -> list[tuple[PageChannel, Callable[[Page], Delivery | None]]]:
    """Mail to everyone with an address, and the person's own chat or webhook channel where they set one."""
    routes: list[tuple[PageChannel, Callable[[Page], Delivery | None]]] = []
    if person.email:
        routes.append((PageChannel.MAIL, lambda page: _mail(page, person)))
    if own_channel is not None:
        kind = PageChannel.WEBHOOK if own_channel.format == Format.STANDARD else PageChannel.CHAT
        routes.append((kind, lambda page: _post(page, person, own_channel)))
    return routes


def _acknowledge_url(page: Page) -> str:
    return settings.SITE_URL + reverse("incidents:acknowledge-link", args=[link_token(page)])


def _mail(page: Page, person: User) -> Delivery | None:
    escalation = page.escalation
    context = {"escalation": escalation, "person": person, "page": page, "acknowledge_url": _acknowledge_url(page),
               "expires_hours": settings.ONCALL_LINK_MAX_AGE_SECONDS // 3600}
    return mail_enqueue(key=f"oncall.page:{page.pk}", event="oncall.page", to=person.email,
                        subject=f"[Incident tracker] Page: {escalation.subject}",
                        text=render_to_string("oncall/email/page.txt", context),
                        html=render_to_string("oncall/email/page.html", context))


def _post(page: Page, person: User, channel: Subscription) -> Delivery | None:
    """The page as an event to the person's own channel (docs/webhooks.md, "oncall.page")."""
    escalation = page.escalation
    expires_at = page.sent_at + timedelta(seconds=settings.ONCALL_LINK_MAX_AGE_SECONDS)
    data = {"incident": {"id": escalation.incident_id, "summary": escalation.subject, "url": escalation.url},
            "page": {"id": page.pk, "round": page.round, "step": page.step, "sent_at": page.sent_at.isoformat()},
            "person": {"id": person.pk, "name": str(person), "chat_handle": channel.chat_handle},
            "acknowledge_url": _acknowledge_url(page), "acknowledge_expires_at": expires_at.isoformat()}
    return page_enqueue(channel, data, key=f"oncall.page:{page.pk}")


def link_token(page: Page) -> str:
    """A signed token naming `page`, for the one-click acknowledge link in its message."""
    return signing.TimestampSigner(salt=LINK_SALT).sign(str(page.pk))


def link_page(token: str) -> Page:
    """The page a link names, refused when forged, expired or used (the caller marks it used)."""
    try:
        page_id = signing.TimestampSigner(salt=LINK_SALT).unsign(token, max_age=settings.ONCALL_LINK_MAX_AGE_SECONDS)
    except signing.SignatureExpired:
        raise ValidationError("This acknowledge link has expired. Open the incident to acknowledge it.") from None
    except signing.BadSignature:
        raise ValidationError("This acknowledge link is not valid.") from None
    page = Page.objects.select_related("escalation").filter(pk=int(page_id)).first()
    if page is None:
        raise ValidationError("This acknowledge link is not valid.")
    if page.link_used_at is not None:
        raise ValidationError("This acknowledge link has already been used.")
    return page


def link_use(page: Page) -> bool:
    """Mark the link used; False when another request used it first (inside the caller's transaction)."""
    return bool(Page.objects.filter(pk=page.pk, link_used_at__isnull=True).update(link_used_at=timezone.now()))


def calendar_feed_for(user: User) -> CalendarFeed:
    feed, _ = CalendarFeed.objects.get_or_create(user=user)
    return feed


def calendar_feed_rotate(user: User) -> CalendarFeed:
    """Give `user`'s calendar a new secret address; the old address answers 404 from now on."""
    with transaction.atomic():
        feed = calendar_feed_for(user)
        feed.secret, feed.rotated_at = new_feed_secret(), timezone.now()
        feed.save(update_fields=["secret", "rotated_at"])
    return feed


@dataclass(frozen=True)
class PageCounts:
    sent: int
    unacknowledged: int


def page_counts() -> PageCounts:
    """What /metrics says of paging: pages sent, and those for incidents still unacknowledged. One query."""
    counts = Page.objects.aggregate(sent=Count("pk"),
                                    unacknowledged=Count("pk", filter=Q(escalation__incident__acknowledged_at=None)))
    return PageCounts(sent=counts["sent"], unacknowledged=counts["unacknowledged"])


def swap_request_create(*, requester: User, schedule: Schedule, cover: User, starts_at: datetime,
                        ends_at: datetime) -> SwapRequest:
    """`requester` asks `cover` to take their hours from `starts_at` to `ends_at`; `cover` is told by mail."""
    if cover.pk == requester.pk:
        raise ValidationError({"cover": "Ask someone other than yourself."})
    if not (cover.is_staff and cover.is_active):
        raise ValidationError({"cover": "Only an active responder can cover on-call hours."})
    if ends_at <= starts_at:
        raise ValidationError({"ends_at": "The cover ends after it starts."})
    if ends_at <= timezone.now():
        raise ValidationError({"ends_at": "These hours are already over."})
    with transaction.atomic():
        swap = SwapRequest.objects.create(schedule=schedule, requester=requester, cover=cover, starts_at=starts_at,
                                          ends_at=ends_at)
        if cover.email:
            mail_enqueue(key=f"oncall.swap:{swap.pk}", event="oncall.swap", to=cover.email,
                         subject="[Incident tracker] Can you cover on-call hours?",
                         text=f"{requester} asks you to cover their on-call hours in {schedule} from "
                              f"{starts_at:%Y-%m-%d %H:%M} to {ends_at:%Y-%m-%d %H:%M} UTC.\n\n"
                              f"Answer on {settings.SITE_URL}{reverse('oncall:mine')}\n")
    return swap


def swap_request_answer(swap: SwapRequest, *, actor: User, accept: bool) -> SwapRequest:
    """The person asked accepts (the override is made) or declines; a request is answered once."""
    with transaction.atomic():
        current = SwapRequest.objects.select_for_update().get(pk=swap.pk)
        if current.cover_id != actor.pk:
            raise PermissionDenied("Only the person asked can answer this request.")
        if current.status != SwapStatus.PENDING:
            raise ValidationError(f"This request was already {current.get_status_display()}.")
        if accept:
            current.override = override_save(Override(schedule=current.schedule, user=actor,
                                                      replaces_id=current.requester_id,
                                                      starts_at=current.starts_at, ends_at=current.ends_at), actor=actor)
        current.status = SwapStatus.ACCEPTED if accept else SwapStatus.DECLINED
        current.save(update_fields=["status", "override"])
    return current


# Setting up on-call: schedules, rotations (with their members), overrides, policies
# (with their steps) and rules. The admin and the API both write through these, so every
# change is validated as the admin's forms validate it and recorded in the audit log.

@dataclass(frozen=True)
class Audited:
    """What the audit log records of one kind of record: its fields, and the actions of its changes."""

    fields: tuple[str, ...]
    created: Action
    changed: Action
    deleted: Action


AUDITED: dict[type[models.Model], Audited] = {
    Schedule: Audited(("name", "description"),
                      Action.SCHEDULE_CREATED, Action.SCHEDULE_CHANGED, Action.SCHEDULE_DELETED),
    Rotation: Audited(("schedule", "name", "layer", "shift", "shift_hours", "starts_on", "handover", "time_zone", "days"),
                      Action.ROTATION_CREATED, Action.ROTATION_CHANGED, Action.ROTATION_DELETED),
    Override: Audited(("schedule", "user", "replaces", "starts_at", "ends_at"),
                      Action.OVERRIDE_CREATED, Action.OVERRIDE_CHANGED, Action.OVERRIDE_DELETED),
    EscalationPolicy: Audited(("name", "repeat"), Action.ESCALATION_POLICY_CREATED, Action.ESCALATION_POLICY_CHANGED,
                              Action.ESCALATION_POLICY_DELETED),
    EscalationRule: Audited(("category", "severity", "policy"), Action.ESCALATION_RULE_CREATED,
                            Action.ESCALATION_RULE_CHANGED, Action.ESCALATION_RULE_DELETED),
}
STEP_FIELDS = ("target", "schedule", "user", "wait_minutes")


def _values(record: models.Model, fields: Iterable[str]) -> dict[str, Any]:
    """The fields as the audit log keeps them: related records by id."""
    return {field.name: field.value_from_object(record) for field in record._meta.concrete_fields if field.name in fields}


def _save(record: M, *, actor: User, children: str = "", rows: Sequence[models.Model] | None = None) -> M:
    """
    Validate and save `record` and, when `rows` is given, replace its `children` (members
    or steps, in the order given) with them; record one audit row of what changed.
    Nothing is written when anything is invalid.
    """
    audited = AUDITED[type(record)]
    is_new = record._state.adding
    before = {} if is_new else _values(type(record)._default_manager.get(pk=record.pk), audited.fields)
    record.full_clean()
    for index, row in enumerate(rows or ()):
        try:
            row.full_clean(exclude=[_parent_field(record, children)])
        except ValidationError as error:
            raise ValidationError({f"{children}.{index}.{name}": messages
                                   for name, messages in error.message_dict.items()}) from error
    with transaction.atomic():
        try:
            with transaction.atomic():
                record.save()
        except IntegrityError as error:  # Another request wrote the same unique values since full_clean.
            raise ValidationError(f"“{record}” clashes with a change made at the same time; try again.") from error
        after = _values(record, audited.fields)
        changes = {name: [before.get(name), value] for name, value in after.items()
                   if is_new or before.get(name) != value}
        if rows is not None:
            old, new = _children_replace(getattr(record, children), rows)
            if old != new:
                changes[children] = [old, new]
        if changes:
            audit_record(audited.created if is_new else audited.changed, actor=actor, target=record, changes=changes)
    return record


def _parent_field(record: models.Model, children: str) -> str:
    """The name of the field by which a record of `children` names its parent (`rotation`, `policy`)."""
    relation = record._meta.get_field(children)
    assert isinstance(relation, models.ManyToOneRel)
    return relation.field.name


def _children_replace(related: Any, rows: Sequence[models.Model]) -> tuple[list[Any], list[Any]]:
    """Put `rows` in place of the records `related` holds, numbered in order; both lists' values, for the audit log."""
    fields = [field.name for field in related.model._meta.concrete_fields
              if field.name not in ("id", "position", related.field.name)]
    old = [_values(row, fields) for row in related.all()]
    related.all().delete()
    for position, row in enumerate(rows, start=1):
        setattr(row, related.field.name, related.instance)
        row.position = position  # type: ignore[attr-defined]
    related.model.objects.bulk_create(rows)
    return old, [_values(row, fields) for row in rows]


def _delete(record: models.Model, *, actor: User, **removed: Any) -> None:
    """
    Delete `record` and record its fields and what goes with it (`removed`); refused, with
    nothing deleted, while other records still need it.
    """
    audited = AUDITED[type(record)]
    changes = {name: [value, None] for name, value in {**_values(record, audited.fields), **removed}.items()}
    try:
        with transaction.atomic():
            audit_record(audited.deleted, actor=actor, target=record, changes=changes)
            record.delete()
    except ProtectedError as error:
        users = sorted({str(user) for user in error.protected_objects})
        raise ValidationError(f"“{record}” is still used by {', '.join(users[:5])}"
                              f"{f' and {len(users) - 5} more' if len(users) > 5 else ''}: change those first.",
                              code="protected") from error


def schedule_save(schedule: Schedule, *, actor: User) -> Schedule:
    """Create or change a schedule (its name and description); rotations and overrides have their own."""
    return _save(schedule, actor=actor)


def schedule_delete(schedule: Schedule, *, actor: User) -> None:
    """Delete a schedule with its rotations and overrides; refused while an escalation step pages its on-call."""
    _delete(schedule, actor=actor, rotations=[rotation.name for rotation in schedule.rotations.all()],
            overrides=schedule.overrides.count())


def rotation_save(rotation: Rotation, *, actor: User, members: Sequence[User] | None = None) -> Rotation:
    """Create or change a rotation; `members` (in turn order) replace its members when given."""
    rows = None if members is None else [RotationMember(user=user) for user in members]
    return _save(rotation, actor=actor, children="members", rows=rows)


def rotation_delete(rotation: Rotation, *, actor: User) -> None:
    _delete(rotation, actor=actor, members=list(rotation.members.values_list("user_id", flat=True)))


def override_save(override: Override, *, actor: User) -> Override:
    """Create or change an override: who covers whom, from when to when (it ends after it starts)."""
    return _save(override, actor=actor)


def override_delete(override: Override, *, actor: User) -> None:
    _delete(override, actor=actor)


def policy_save(policy: EscalationPolicy, *, actor: User, steps: Sequence[EscalationStep] | None = None
                ) -> EscalationPolicy:
    """
    Create or change a policy; `steps` (unsaved, in order) replace its steps when given.
    A running escalation goes on at its step number with the new steps.
    """
    return _save(policy, actor=actor, children="steps", rows=steps)


def policy_delete(policy: EscalationPolicy, *, actor: User) -> None:
    """Delete a policy with its steps and rules; refused while an escalation (even a finished one) names it."""
    _delete(policy, actor=actor, steps=[_values(step, STEP_FIELDS) for step in policy.steps.all()],
            rules=[str(rule) for rule in policy.rules.all()])


def rule_save(rule: EscalationRule, *, actor: User) -> EscalationRule:
    """Create or change a rule; one per category and severity (and one default per severity)."""
    others = EscalationRule.objects.filter(severity=rule.severity).exclude(pk=rule.pk)
    if (others.filter(category_id=rule.category_id) if rule.category_id else others.filter(category=None)).exists():
        where = "this category" if rule.category_id is not None else "the default (no category)"
        raise ValidationError({"severity": f"{where.capitalize()} already has a rule for SEV{rule.severity}: "
                                           "change that one."})
    return _save(rule, actor=actor)


def rule_delete(rule: EscalationRule, *, actor: User) -> None:
    _delete(rule, actor=actor)
