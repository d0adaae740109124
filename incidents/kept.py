"""
Results kept until the next write: reads that cost more than a page should, and that
people repeat (a search while everyone looks for the same outage, the dashboard's queues
refreshed all day), are kept in the shared cache under a generation token.

Every committed write to an incident, a comment or a user (incidents.apps), and every
bulk load, replaces the token, so no later read finds what was kept before it: a kept
result is never older than the last write. It is gone after KEPT_SECONDS in any case.
The key of a kept result must name everything it depends on, the reader's visibility
included.

Pages go one step further: each worker keeps the rendered content of the list, detail
and dashboard pages (kept_markup) under the same token, for one reader, one time zone
and one address, for a minute at most (the tables say "5 minutes ago"). A request that
finds it puts a fresh CSRF token in and sends it; only when there is a message for the
reader is the frame around the content (the header and the messages) rendered again.
"""
from __future__ import annotations

import hashlib
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from functools import partial
from typing import Any, TypeVar, cast

from django.core.cache import cache
from django.db import transaction

from incident_tracker import __version__
from incident_tracker.tokens import INCIDENT_RESULTS, current_token, replace_token

KEPT_SECONDS = 300
# Rendered pages each worker keeps: a list page is about 25 kB, so a few megabytes at most.
KEPT_PAGES = 256
KEPT_PAGE_SECONDS = 60
T = TypeVar("T")


def _generation() -> str:
    return current_token(INCIDENT_RESULTS)


def forget_kept_results(**kwargs: Any) -> None:
    """
    Receiver for a saved or deleted incident, comment or user, also called after a bulk load.
    The token is replaced once the write commits: a read that ran before then and kept
    its result did so under the old token, which no later read uses.
    """
    transaction.on_commit(partial(replace_token, INCIDENT_RESULTS))


def kept_results(identity: Any, compute: Callable[[], T]) -> T:
    """compute()'s result for `identity` (everything it depends on), from the cache while no write came since."""
    # The release is part of the key: a result kept by another release may not unpickle here.
    key = "kept-results:" + hashlib.sha256(repr((__version__, _generation(), identity)).encode()).hexdigest()
    return cast(T, cache.get_or_set(key, compute, KEPT_SECONDS))


@dataclass(frozen=True)
class KeptMarkup:
    """
    A page's title, its rendered content, and the whole page around it as shown when there
    is no message for the reader; `keep` is false for a page that must not be shown twice.
    """

    title: str
    content: str
    page: str
    keep: bool = True


@dataclass
class _KeptPage:
    markup: KeptMarkup
    rendered_at: float
    # One request renders an expired page again; meanwhile the others get this one.
    refreshing: bool = False


_kept_pages: OrderedDict[tuple[str, Hashable], _KeptPage] = OrderedDict()
_kept_pages_lock = threading.Lock()


def kept_markup(identity: Hashable, render: Callable[[], KeptMarkup]) -> KeptMarkup:
    """
    render()'s markup for `identity` (reader, time zone, address), kept by this worker
    until a write, and rendered again after KEPT_PAGE_SECONDS because its times read
    "5 minutes ago". When that time is up, the request that finds it renders it again
    while requests for the same page in the meantime still get the kept one, a few
    milliseconds older: a page many people read is not rendered by every thread at once.
    """
    key = (_generation(), identity)
    started = time.time()
    with _kept_pages_lock:
        kept = _kept_pages.get(key)
        if kept is not None:
            _kept_pages.move_to_end(key)
            if started - kept.rendered_at < KEPT_PAGE_SECONDS or kept.refreshing:
                return kept.markup
            kept.refreshing = True
    try:
        markup = render()
    finally:
        if kept is not None:
            kept.refreshing = False
    if markup.keep:
        with _kept_pages_lock:
            _kept_pages[key] = _KeptPage(markup, rendered_at=started)
            while len(_kept_pages) > KEPT_PAGES:
                _kept_pages.popitem(last=False)
    return markup
