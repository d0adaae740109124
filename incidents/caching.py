"""
The one cache layer of the pages, on Django's cache framework: the cache in settings
(Redis, or a database table) is shared by every worker of every instance, and nothing
here is kept in a worker's own memory.

It holds what is dear to compute and changes only when an incident does: the
dashboard's figures over the last days (incidents/dashboard.py). Such a value is kept
under a key that names the current incidents generation, a random token in the cache.

What makes a kept value wrong: an incident reported, edited, moved through the
workflow, or loaded in bulk. Every path that writes incidents calls incidents_changed()
(incidents/services.py, which the views, the admin and the demo seed use; the demo
seed's backdating; incidents/seeding.py for bulk loads); the token is replaced once the write commits, so
a read that ran before the commit kept its value under a token no later read uses. A
token dropped by the cache (culled, or Redis restarted) is simply made anew: nothing is
read under an old one again. Comments, categories and people are not part of any kept
value, so their writes and sign-ins change nothing here.
"""
from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable, Hashable
from typing import TypeVar, cast

from django.core.cache import cache
from django.db import transaction

GENERATION_KEY = "incidents-generation"
# Values go after this long even without a write: a day's figures are computed again now and then.
KEPT_SECONDS = 3600
T = TypeVar("T")


def _generation() -> str:
    token = cache.get(GENERATION_KEY)
    if token is None:
        cache.add(GENERATION_KEY, secrets.token_hex(8), None)
        token = cache.get(GENERATION_KEY)
    return str(token)


def _replace_generation() -> None:
    cache.set(GENERATION_KEY, secrets.token_hex(8), None)


def incidents_changed() -> None:
    """Called by every write to incidents: values kept until then are not read again once it commits."""
    transaction.on_commit(_replace_generation)


def until_incidents_change(identity: Hashable, compute: Callable[[], T]) -> T:
    """compute()'s value for `identity` (everything else it depends on), kept until the next write to an incident."""
    digest = hashlib.sha256(repr(identity).encode()).hexdigest()
    return cast(T, cache.get_or_set(f"incidents:{_generation()}:{digest}", compute, KEPT_SECONDS))
