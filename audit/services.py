"""
The only writer of the audit log. Every row is appended at the head of the hash chain
inside the caller's transaction; what goes into a row is normalised first, so that the
hash computed here is the hash `verify_audit` recomputes from the row read back on any
database (PostgreSQL's jsonb, inet and varchar columns each have their own ideas).
"""
from __future__ import annotations

import datetime
import ipaddress
import json
from collections.abc import Iterator
from contextlib import contextmanager
from io import TextIOBase
from typing import Any

from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.models import AnonymousUser
from django.core.serializers.json import DjangoJSONEncoder
from django.db import IntegrityError, connection, models, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.crypto import salted_hmac
from django.utils.ipv6 import clean_ipv6_address

from .archive import write_archive
from .context import current_origin
from .middleware import MAX_USER_AGENT_LENGTH
from .models import GENESIS_HASH, Action, AuditLog, SignInFailureWindow
from .verification import Checkpoint

# Any constant works: it names the one PostgreSQL advisory lock that serialises appends.
CHAIN_LOCK_KEY = 7_341_902_233
# Created by migration audit.0003; it refuses UPDATE and DELETE on PostgreSQL.
APPEND_ONLY_TRIGGER = "audit_auditlog_append_only"


def _lock_chain_head() -> None:
    """
    Make concurrent writers append one at a time so no two rows claim the same
    predecessor. PostgreSQL: a transaction-scoped advisory lock (readers are never
    blocked). SQLite: transactions already BEGIN IMMEDIATE (see settings), which
    serialises writers for the whole database. Either way the unique previous_hash
    column refuses a fork should a writer ever slip past.
    """
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [CHAIN_LOCK_KEY])


def _clean_text(value: str) -> str:
    """
    Text any database stores and gives back unchanged: PostgreSQL refuses NUL
    characters and lone surrogates (both reach us in hostile usernames and headers).
    """
    return value.replace("\x00", "").encode("utf-8", "replace").decode("utf-8")


def _json_safe(value: Any) -> Any:
    """
    The value exactly as the JSON column gives it back. Strings are cleaned like any
    text; floats become text because jsonb turns 1e16 into an integer, which would
    then serialise (and hash) differently.
    """
    if isinstance(value, dict):
        return {_clean_text(str(key)): _json_safe(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_json_safe(item) for item in value]
    if isinstance(value, str):
        return _clean_text(value)
    if isinstance(value, float):
        return repr(value)
    return value


def _normalised_changes(changes: dict[str, Any]) -> dict[str, Any]:
    return _json_safe(json.loads(json.dumps(changes, cls=DjangoJSONEncoder)))


def _normalised_ip(ip_address: str | None) -> str | None:
    """
    The address in the form the database stores it, or None when it is not an address
    at all (X-Forwarded-For is whatever the client sent when no proxy rewrites it).
    PostgreSQL's inet type prints some IPv6 addresses its own way (`::1.2.3.4`), so
    there the database itself says how the address will read back.
    """
    try:
        parsed = ipaddress.ip_address((ip_address or "").strip())
    except ValueError:
        return None
    if parsed.version == 4:
        return str(parsed)
    cleaned = clean_ipv6_address(str(parsed).split("%")[0])
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT host(%s::inet)", [cleaned])
            return str(cursor.fetchone()[0])
    return cleaned


def _target_label(target: models.Model | None) -> str:
    """An account by its login name, which is what administrators search the log for; anything else as it names itself."""
    if isinstance(target, AbstractBaseUser):
        return target.get_username()
    return str(target) if target is not None else ""


def _target_fields(target: models.Model | None, target_label: str | None) -> dict[str, str]:
    label = target_label if target_label is not None else _target_label(target)
    return {
        "target_type": target._meta.label_lower if target is not None else "",
        "target_id": str(target.pk) if target is not None else "",
        "target_label": _clean_text(label)[:255],
    }


def audit_record(
    action: Action,
    *,
    actor: AbstractBaseUser | AnonymousUser | None,
    target: models.Model | None = None,
    target_label: str | None = None,
    changes: dict[str, Any] | None = None,
) -> AuditLog:
    """
    Append one row to the audit chain. Call it inside the transaction of the change it
    records, so that the row exists exactly when the change does. `actor` None (or an
    anonymous user) means the system. The source address and user agent come from the
    request being served, if any, and so does the channel it came through (`via`).
    """
    origin = current_origin.get()
    user = actor if isinstance(actor, AbstractBaseUser) else None
    with transaction.atomic():
        _lock_chain_head()
        head = AuditLog.objects.order_by("-sequence").values_list("sequence", "entry_hash").first()
        sequence, previous_hash = (head[0] + 1, head[1]) if head else (1, GENESIS_HASH)
        entry = AuditLog(
            sequence=sequence,
            created_at=timezone.now(),
            # By id: the row accepts whatever AUTH_USER_MODEL is without this app importing it.
            actor_id=user.pk if user else None,
            actor_username=_clean_text(user.get_username()) if user else "",
            action=action,
            **_target_fields(target, target_label),
            changes=_normalised_changes(changes or {}),
            ip_address=_normalised_ip(origin.ip_address),
            user_agent=_clean_text(origin.user_agent)[:MAX_USER_AGENT_LENGTH],
            via=_clean_text(origin.via)[:200],
            previous_hash=previous_hash,
        )
        entry.entry_hash = entry.compute_hash()
        entry.save(force_insert=True)
    return entry


# Failed sign-ins are counted in windows this long (SignInFailureWindow).
FAILURE_WINDOW = datetime.timedelta(minutes=15)


def _window_start(moment: datetime.datetime) -> datetime.datetime:
    seconds = FAILURE_WINDOW.total_seconds()
    return datetime.datetime.fromtimestamp(moment.timestamp() // seconds * seconds, tz=datetime.timezone.utc)


def unknown_username_label(typed: str) -> str:
    """
    A name that matches no account, as the log names it: a keyed hash, never the text,
    which is often a password typed into the wrong field. The same name from the same
    site always gives the same label, so repeated guesses can still be told apart.
    """
    return f"unknown account {salted_hmac('audit.unknown-username', _clean_text(typed)).hexdigest()[:16]}"


def failure_record(action: Action, *, account: models.Model | None, typed_username: str = "",
                   changes: dict[str, Any] | None = None) -> None:
    """
    Count a failure (a wrong password at sign-in or when confirming one's identity, an
    attempt refused while locked out, a wrong or throttled one-time code) against the
    account it named, else against the client address, in the current FAILURE_WINDOW.
    The window's first failure appends one audit row, with `changes`; later ones only add
    to the window's count, which the admin shows. A flood of failures therefore never
    queues behind the audit chain's lock that every incident write takes.
    """
    origin = current_origin.get()
    now = timezone.now()
    key = f"account:{account.pk}" if account is not None else f"address:{_normalised_ip(origin.ip_address) or 'unknown'}"
    window_start = _window_start(now)
    window = SignInFailureWindow.objects.filter(action=action, key=key, window_start=window_start)
    with transaction.atomic():
        if window.update(failures=F("failures") + 1, last_at=now):
            return
        try:
            # The unique constraint makes exactly one of two racing requests open the window.
            with transaction.atomic():
                SignInFailureWindow.objects.create(action=action, key=key, window_start=window_start, last_at=now)
        except IntegrityError:
            window.update(failures=F("failures") + 1, last_at=now)
            return
        label = None if account is not None else unknown_username_label(typed_username)
        audit_record(action, actor=None, target=account, target_label=label, changes={
            **(changes or {}),
            "window": [window_start, window_start + FAILURE_WINDOW],
            "counted_in": "sign-in failure windows",
        })


@contextmanager
def append_only_suspended() -> Iterator[None]:
    """
    Lift PostgreSQL's refusal of DELETE on the audit table for the current transaction
    (it takes the table's exclusive lock, so no writer sees the gap). Only pruning uses
    it, and only the table's owner may: the application role of a hardened deployment
    cannot, which is the point.
    """
    if connection.vendor != "postgresql":
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute(f"ALTER TABLE audit_auditlog DISABLE TRIGGER {APPEND_ONLY_TRIGGER}")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f"ALTER TABLE audit_auditlog ENABLE TRIGGER {APPEND_ONLY_TRIGGER}")


def audit_prune(*, before: datetime.datetime, archive: TextIOBase, checkpoint: Checkpoint) -> AuditLog | None:
    """
    For operators (`manage.py prune_audit`): move the oldest rows, up to the last one
    created before `before` and never past `checkpoint` (the latest published one, which
    the caller has verified), into `archive` as JSON lines and delete them. The chain
    stays verifiable: an AUDIT_PRUNED row records the sequence and hash the remaining
    rows follow from ("through") and the checkpoint it was bound to; verify_audit accepts
    it as the chain's start, and refuses a start past the checkpoint it is given.
    Returns that row, or None when no row is old enough (then nothing changes).
    """
    with transaction.atomic():
        _lock_chain_head()
        through = (
            AuditLog.objects.filter(created_at__lt=before, sequence__lte=checkpoint.sequence)
            .order_by("-sequence").values_list("sequence", "entry_hash").first()
        )
        if through is None:
            return None
        pruned = AuditLog.objects.filter(sequence__lte=through[0])
        summary = write_archive(pruned.in_chain_order().iterator(chunk_size=2000), archive, file_format="jsonl")
        marker = audit_record(
            Action.AUDIT_PRUNED, actor=None,
            target_label=f"Rows #{summary.first_sequence} to #{summary.last_sequence} archived",
            changes={"through": f"{through[0]}:{through[1]}", "rows": summary.rows, "before": before,
                     "checkpoint": str(checkpoint)},
        )
        with append_only_suspended():
            pruned.delete()
    return marker
