"""
Counters behind the security limits, in the database (accounts.RateCount), which never
evicts: the cache (Redis with allkeys-lru, or a database cache that culls) may drop a
key under pressure, and an attacker who can fill the cache could reset any limit kept
there. Each key counts within a window that starts at its first count.
"""
from __future__ import annotations

from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from .models import RateCount

# Rows whose window ended this long ago are deleted when a new key starts counting.
KEEP = timedelta(days=1)


def counted(key: str, *, window: timedelta) -> int:
    """Count one more for `key` and return the count within its window, this one included."""
    now = timezone.now()
    with transaction.atomic():
        row, created = RateCount.objects.select_for_update().get_or_create(
            key=key, defaults={"started_at": now, "count": 1})
        if created:
            RateCount.objects.filter(started_at__lt=now - KEEP).delete()
            return 1
        if row.started_at <= now - window:
            row.started_at, row.count = now, 0
        row.count += 1
        row.save(update_fields=["started_at", "count"])
        return row.count


def count_of(key: str, *, window: timedelta) -> int:
    """The count for `key` within its window, without counting."""
    row = RateCount.objects.filter(key=key, started_at__gt=timezone.now() - window).first()
    return row.count if row is not None else 0
