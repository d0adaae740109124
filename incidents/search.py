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
from datetime import datetime
from typing import TYPE_CHECKING, Literal

from django.db import connections, transaction

from .pagination import COUNT_CAP, KeysetPage, bounded_count, keyset_page

if TYPE_CHECKING:
    from .models import Incident, IncidentQuerySet

SEARCH_CONFIG = "english"
# Searches with no more matches than this are read through the GIN index (search_page).
INDEX_PLAN_LIMIT = 1_000
# A search in relevance order looks for its newest matches among this many newest incidents first (search_page).
RECENT_WINDOW = 20_000
# The newest matches of a search that are ranked by relevance: more than the list counts (COUNT_CAP).
RANKED_MATCHES = 200
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
def planned_without(using: str, *scans: Literal["seqscan", "indexscan", "bitmapscan"]) -> Iterator[None]:
    """
    On PostgreSQL, the queries inside are planned without these kinds of scan
    ("seqscan", "indexscan", "bitmapscan"): for reads whose matches PostgreSQL estimates
    badly, the plan the count or the window calls for (search_page).
    """
    connection = connections[using]
    if connection.vendor != "postgresql":
        yield
        return
    with transaction.atomic(using=using), connection.cursor() as cursor:
        for scan in scans:
            cursor.execute(f"SET LOCAL enable_{scan} = off")
        yield
        # Inside a transaction already begun this was a savepoint, which SET LOCAL outlives
        # once released (a failure rolls the savepoint back, and the settings with it).
        for scan in scans:
            cursor.execute(f"SET LOCAL enable_{scan} TO DEFAULT")


def newest_matches(filtered: IncidentQuerySet, tsquery: str) -> tuple[int, datetime | None]:
    """
    How many of the newest RANKED_MATCHES matches of `tsquery` among `filtered` lie
    among its newest RECENT_WINDOW incidents, and when the oldest of those was reported.

    The walk down the newest incidents is a subquery in FROM, which the ORM cannot
    write: its LIMIT keeps PostgreSQL from testing the search anywhere but on the rows
    walked, in order, and the walk stops at the last match wanted.
    """
    newest = filtered.order_by("-created_at", "-id").values("created_at", "id", "search_vector")[:RECENT_WINDOW]
    walk, params = newest.query.sql_with_params()
    with connections[filtered.db].cursor() as cursor:
        cursor.execute(
            f"SELECT count(*), min(created_at) FROM (SELECT created_at FROM ({walk}) AS newest "
            "WHERE search_vector @@ to_tsquery(%s::regconfig, %s) ORDER BY created_at DESC, id DESC LIMIT %s) AS found",
            [*params, SEARCH_CONFIG, tsquery, RANKED_MATCHES],
        )
        found, oldest = cursor.fetchone()
    return found, oldest


def search_page(filtered: IncidentQuerySet, *, text: str, order: str, size: int, after: str = "",
                before: str = "") -> tuple[KeysetPage[Incident], int]:
    """
    One page of the incidents of `filtered` that match `text`, in `order` (a key of
    SORT_ORDERS), and how many match: exactly up to COUNT_CAP, past it any number
    above (the list says "More than 100").

    PostgreSQL estimates the matches of several words as if the words were independent,
    and plans by that estimate. Two words that never appear together ("syncing valid":
    two symptoms, each in one title in twenty) it expects often, so it walks an ordered
    index through the whole table looking for them (6.9 s sorted by newest at a million
    incidents); two that always do ("phone system") it expects rarely, so it reads and
    sorts all 33,000 matches through the GIN index (240 ms) where the walk finds the
    newest 200 in 20 ms. So, on PostgreSQL:

    1. In relevance order, the search first walks the newest RECENT_WINDOW incidents of
       `filtered` (3 to 20 ms), which hold the newest RANKED_MATCHES matches of any
       common enough search; found there, they are ranked and the page is read among
       them, without the GIN index. Every seeded word is found so, and two words in
       two searches of five.
    2. With more than COUNT_CAP matches there, the matches are common enough for the
       walk, which goes on past the window to the last one wanted.
    3. Otherwise a search of several words counts its matches through the GIN index,
       stopping past INDEX_PLAN_LIMIT, and is read through it when it has no more.
    4. Otherwise (one word, whose estimate is close, or many matches) PostgreSQL plans it.
    """
    matching = filtered.search(text)
    tsquery = tsquery_for(text)
    ordered = matching.in_list_order(order)
    if order == "relevance" and tsquery and connections[filtered.db].vendor == "postgresql":
        found, oldest = newest_matches(filtered, tsquery)
        if found == RANKED_MATCHES:
            # Those matches, and no others; no bitmap scan of the GIN index is worth it for them.
            with planned_without(filtered.db, "bitmapscan"):
                ranked = matching.filter(created_at__gte=oldest).ranked()
                return keyset_page(ranked, size=size, after=after, before=before), found
        if found > COUNT_CAP:
            # Matches are common enough among the newest that the walk soon finds the rest.
            with planned_without(filtered.db, "bitmapscan"):
                return keyset_page(ordered, size=size, after=after, before=before), found
    if len(WORD.findall(text)) < 2:
        return keyset_page(ordered, size=size, after=after, before=before), bounded_count(matching)
    with planned_without(filtered.db, "seqscan", "indexscan"):
        matches = matching.order_by().values("pk")[: INDEX_PLAN_LIMIT + 1].count()
        if matches <= INDEX_PLAN_LIMIT:
            return keyset_page(ordered, size=size, after=after, before=before), matches
    return keyset_page(ordered, size=size, after=after, before=before), matches
