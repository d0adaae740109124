from __future__ import annotations

import json
from typing import Any

from django.contrib.auth.models import AnonymousUser
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, models, transaction
from django.utils import timezone
from django.utils.ipv6 import clean_ipv6_address

from accounts.models import User

from .context import current_origin
from .models import GENESIS_HASH, Action, AuditLog

# Any constant works: it names the one PostgreSQL advisory lock that serialises appends.
CHAIN_LOCK_KEY = 7_341_902_233


def _lock_chain_head() -> None:
    """
    Make concurrent writers append one at a time so no two rows claim the same
    predecessor. PostgreSQL: a transaction-scoped advisory lock (readers are never
    blocked). SQLite: transactions already BEGIN IMMEDIATE (see settings), which
    serialises writers for the whole database.
    """
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [CHAIN_LOCK_KEY])


def _normalised(value: Any) -> Any:
    """The value exactly as the JSON column gives it back, so the hash verifies after a reload."""
    return json.loads(json.dumps(value, cls=DjangoJSONEncoder))


def _normalised_ip(ip_address: str | None) -> str | None:
    if ip_address and ":" in ip_address:
        return clean_ipv6_address(ip_address)
    return ip_address


def audit_record(
    action: Action,
    *,
    actor: User | AnonymousUser | None,
    target: models.Model | None = None,
    target_label: str | None = None,
    changes: dict[str, Any] | None = None,
) -> AuditLog:
    """
    Append one row to the audit chain. Call it inside the transaction of the change it
    records, so that the row exists exactly when the change does. `actor` None (or an
    anonymous user) means the system. The source address and user agent come from the
    request being served, if any.
    """
    origin = current_origin.get()
    user = actor if isinstance(actor, User) else None
    with transaction.atomic():
        _lock_chain_head()
        head = AuditLog.objects.order_by("-sequence").values_list("sequence", "entry_hash").first()
        sequence, previous_hash = (head[0] + 1, head[1]) if head else (1, GENESIS_HASH)
        entry = AuditLog(
            sequence=sequence,
            created_at=timezone.now(),
            actor=user,
            actor_username=user.get_username() if user else "",
            action=action,
            target_type=target._meta.label_lower if target is not None else "",
            target_id=str(target.pk) if target is not None else "",
            target_label=(target_label if target_label is not None else str(target) if target is not None else "")[:255],
            changes=_normalised(changes or {}),
            ip_address=_normalised_ip(origin.ip_address),
            user_agent=origin.user_agent,
            previous_hash=previous_hash,
        )
        entry.entry_hash = entry.compute_hash()
        entry.save(force_insert=True)
    return entry
