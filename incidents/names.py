"""
The names of categories and responders, which every list page shows twice: as the
filters' choices and in each table row's category and assignee cells.

They rarely change, so they are read from the shared cache rather than joined into
every page's query. A category or user saved or deleted anywhere clears them
(incidents.apps); the shared cache also holds them for at most CACHE_SECONDS, in case of
bulk changes that send no signal. Each worker process keeps its own copy for
LOCAL_SECONDS on top, so a page reads the shared cache at most once in that time: a
renamed category can take that long to show in another worker's pages.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, cast

from django.contrib.auth import get_user_model
from django.core.cache import cache

from accounts.models import PERSON_NAME_FIELDS
from incident_tracker import __version__

from .models import Category

# The release is part of the key: names kept by another release may not unpickle here.
CACHE_KEY = f"incident-names:{__version__}"
CACHE_SECONDS = 60
LOCAL_SECONDS = 5


@dataclass(frozen=True)
class Names:
    # Primary key to name, in the order the filters offer them (by name, and by username).
    categories: dict[int, str]
    responders: dict[int, str]


_local: dict[str, Any] = {"names": None, "until": 0.0}


def person_label(username: str, first_name: str, last_name: str) -> str:
    """How a person is named across the product: the full name, else the username (as User.__str__)."""
    return f"{first_name} {last_name}".strip() or username


def _read() -> Names:
    responders = get_user_model().objects.filter(is_staff=True).order_by("username").values_list("pk", *PERSON_NAME_FIELDS)
    return Names(
        categories=dict(Category.objects.order_by("name").values_list("pk", "name")),
        responders={pk: person_label(username, first, last) for pk, username, first, last in responders},
    )


def names() -> Names:
    if _local["names"] is None or time.monotonic() >= _local["until"]:
        _local["names"] = cast(Names, cache.get_or_set(CACHE_KEY, _read, CACHE_SECONDS))
        _local["until"] = time.monotonic() + LOCAL_SECONDS
    return cast(Names, _local["names"])


def forget_names(**kwargs: Any) -> None:
    """Receiver for a saved or deleted category or user: this worker's next page shows the change."""
    _local["names"] = None
    cache.delete(CACHE_KEY)


def _named(ids: Iterable[int | None], known: dict[int, str], lookup: Callable[[set[int]], Iterable[tuple[int, str]]]
           ) -> dict[int, str]:
    """Labels for the ids (None, for an empty relation, is skipped): known ones, then the rest in one lookup."""
    wanted = {pk for pk in ids if pk is not None}
    labels = {pk: known[pk] for pk in wanted if pk in known}
    missing = wanted - labels.keys()
    if missing:
        labels.update(lookup(missing))
    return labels


def categories_named(category_ids: Iterable[int | None]) -> dict[int, str]:
    """Names for these categories: from the cache, and one query for any created since it was read."""
    return _named(category_ids, names().categories,
                  lambda missing: Category.objects.filter(pk__in=missing).values_list("pk", "name"))


def people_named(user_ids: Iterable[int | None]) -> dict[int, str]:
    """
    Labels for these users: responders from the cache, anyone else (a former responder
    still assigned to old incidents, a responder added since the cache was read) in one
    query, whatever the number of rows.
    """
    def lookup(missing: set[int]) -> Iterable[tuple[int, str]]:
        people = get_user_model().objects.filter(pk__in=missing).values_list("pk", *PERSON_NAME_FIELDS)
        return ((pk, person_label(username, first, last)) for pk, username, first, last in people)

    return _named(user_ids, names().responders, lookup)
