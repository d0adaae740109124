"""
Results kept until the next write: reads that cost more than a page should, and that
people repeat (a search while everyone looks for the same outage, the dashboard's queues
refreshed all day), are kept in the shared cache under a generation token.

Every committed write to an incident, a comment or a user (incidents.apps), and every
bulk load, replaces the token, so no later read finds what was kept before it: a kept
result is never older than the last write. It is gone after KEPT_SECONDS in any case.
The key of a kept result must name everything it depends on, the reader's visibility
included.
"""
from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from typing import Any, TypeVar, cast

from django.core.cache import cache
from django.db import transaction

from incident_tracker import __version__

KEPT_SECONDS = 300
GENERATION_KEY = "incident-results-generation"
T = TypeVar("T")


def _generation() -> str:
    generation = cache.get(GENERATION_KEY)
    if generation is None:
        cache.add(GENERATION_KEY, secrets.token_hex(8), None)
        generation = cache.get(GENERATION_KEY)
    return str(generation)


def forget_kept_results(**kwargs: Any) -> None:
    """
    Receiver for a saved or deleted incident, comment or user, also called after a bulk load.
    The token is replaced once the write commits: a read that ran before then and kept
    its result did so under the old token, which no later read uses.
    """
    transaction.on_commit(lambda: cache.set(GENERATION_KEY, secrets.token_hex(8), None))


def kept_results(identity: Any, compute: Callable[[], T]) -> T:
    """compute()'s result for `identity` (everything it depends on), from the cache while no write came since."""
    # The release is part of the key: a result kept by another release may not unpickle here.
    key = "kept-results:" + hashlib.sha256(repr((__version__, _generation(), identity)).encode()).hexdigest()
    return cast(T, cache.get_or_set(key, compute, KEPT_SECONDS))
