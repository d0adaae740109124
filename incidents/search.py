"""
Full-text search over incidents.

On PostgreSQL each incident carries a stored `search_vector`: its title (weight A),
description (B) and public comments (C), in the English configuration. Triggers keep it
current (installed by migration 0002): a row trigger recomputes it
when an incident is written with a new title or description, and a statement trigger
recomputes it for the incidents whose comments changed. Being triggers, they cover every
write path (services, the admin, bulk loads) and run in the writer's own transaction.
Internal notes are left out: otherwise a reporter's search could reveal words from notes
they may not read.

A search is a plain read of the GIN index, so it never blocks a writer. The user's text
never reaches PostgreSQL as tsquery syntax: only its words are kept, each quoted as a
single lexeme, joined with AND, and the last one matches as a prefix (so results follow
what is being typed). The resulting string is still passed as a query parameter.

SQLite has no full-text column; there a search is a case-insensitive substring match on
title and description.

Ranking every match is the dearest read a search could make (a common word matches a
tenth of a million incidents): the list ranks only the newest RANKED_MATCHES matches
(IncidentQuerySet.in_list_order) and says so on the page.
"""
from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TypeVar

from django.db import connections, transaction
from django.db.models import Model, QuerySet

from .pagination import KeysetPage, bounded_count, keyset_page

M = TypeVar("M", bound=Model)
SEARCH_CONFIG = "english"
# Searches with no more matches than this are read through the GIN index (search_page).
INDEX_PLAN_LIMIT = 1_000
# More words than this add little to a search and only cost time.
MAX_SEARCH_WORDS = 8
WORD = re.compile(r"\w+")


def tsquery_for(text: str) -> str | None:
    """
    The tsquery text for what a user typed, or None when it holds no word.
    Words are runs of letters, digits and underscores, so none can carry a quote,
    a backslash or an operator into the query.
    """
    words = WORD.findall(text.lower())[:MAX_SEARCH_WORDS]
    if not words:
        return None
    return " & ".join([*(f"'{word}'" for word in words[:-1]), f"'{words[-1]}':*"])


@contextmanager
def through_the_search_index(using: str) -> Iterator[None]:
    """On PostgreSQL, the queries inside find matches through the GIN index: sequential and ordered index scans are off."""
    connection = connections[using]
    if connection.vendor != "postgresql":
        yield
        return
    with transaction.atomic(using=using), connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SET LOCAL enable_indexscan = off")
        yield
        # Inside a transaction already begun this was a savepoint, which SET LOCAL outlives
        # once released (a failure rolls the savepoint back, and the settings with it).
        cursor.execute("SET LOCAL enable_seqscan TO DEFAULT")
        cursor.execute("SET LOCAL enable_indexscan TO DEFAULT")


def search_page(matching: QuerySet[M], ordered: QuerySet[M], *, text: str, size: int, after: str = "",
                before: str = "") -> tuple[KeysetPage[M], int]:
    """
    One page of a search for `text` (`ordered`: `matching` in the list's order) and how
    many incidents match, up to COUNT_CAP + 1.

    For one word PostgreSQL's estimate of the matches is close, and its plan right: the
    GIN index for a rare word, a walk down an ordered index for a common one (13 ms for
    "users", where reading its matches through the GIN index takes 600 ms). For several
    words it estimates the matches as if the words were independent, and for two that
    never appear together it walks the whole table looking for them ("syncing valid"
    sorted by newest: 6.9 s at a million incidents). So a search of several words first
    counts its matches through the GIN index, stopping past INDEX_PLAN_LIMIT (about
    30 ms), and is read through the GIN index when it has no more; with more (one
    incident in a thousand or more) the walk stops early and PostgreSQL plans it.
    """
    if len(WORD.findall(text)) < 2:
        return keyset_page(ordered, size=size, after=after, before=before), bounded_count(matching)
    with through_the_search_index(matching.db):
        matches = matching.order_by().values("pk")[: INDEX_PLAN_LIMIT + 1].count()
        if matches <= INDEX_PLAN_LIMIT:
            return keyset_page(ordered, size=size, after=after, before=before), matches
    return keyset_page(ordered, size=size, after=after, before=before), matches
