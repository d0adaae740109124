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

The user's text never reaches PostgreSQL as tsquery syntax: only its words are kept,
each quoted as a single lexeme, joined with AND, and the last one matches as a prefix
(so results follow what is being typed). The resulting string is still passed as a
query parameter. PostgreSQL plans every search itself, from the GIN index on the
document and the list's ordered indexes (docs/performance.md, "Search").

SQLite has no full-text column; there a search is a case-insensitive substring match on
title and description.

Best match, the default order of a search, is bounded and says so: ranking reads every
match's document, and a common word matches a tenth of the table. The RANKED_MATCHES
newest matches come first, best first; every older match follows, newest first. So
paging reaches every match, in this order as in the others.
"""
from __future__ import annotations

import re
from typing import Any

from django.db.models import Q, QuerySet

from .pagination import R, KeysetPage, SortKey, chained_page, keyset_page, rows_after

SEARCH_CONFIG = "english"
# The newest matches of a search that are ranked by relevance; older ones follow by date.
RANKED_MATCHES = 200
# More words than this add little to a search and only cost time.
MAX_SEARCH_WORDS = 8
WORD = re.compile(r"\w+")
NEWEST_FIRST = ("-created_at", "-id")


# Each order ends with the primary key, so it is total and a page can continue from a row
# (incidents/pagination.py); Incident.Meta.indexes holds an index for each, per filter.
SORT_ORDERS = {
    "relevance": ("-rank", "-id"),
    "newest": ("-created_at", "-id"),
    "oldest": ("created_at", "id"),
    "severity": ("severity", "-created_at", "-id"),
    "updated": ("-updated_at", "-id"),
}


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


def search_page(matching: QuerySet[Any, R], *, order: str, size: int, after: str = "",
                before: str = "") -> KeysetPage[R]:
    """
    One page of the matches of a search (IncidentQuerySet.search) in `order`, a key of
    SORT_ORDERS. In "relevance" order, the newest RANKED_MATCHES matches by rank, then
    the older ones newest first: one keyset over each part (pagination.chained_page).
    """
    if order != "relevance":
        return keyset_page(matching.order_by(*SORT_ORDERS[order]), size=size, after=after, before=before)
    edge = matching.order_by(*NEWEST_FIRST).values_list("created_at", "id")[RANKED_MATCHES - 1:RANKED_MATCHES + 1]
    if len(edge) < 2:
        # No match is older than the ranked ones: rank them all.
        return keyset_page(matching.order_by(*SORT_ORDERS[order]), size=size, after=after, before=before)
    created_at, pk = edge[0]
    ranked = matching.filter(Q(created_at__gte=created_at) & (Q(created_at__gt=created_at) | Q(id__gte=pk)))
    older = matching.filter(rows_after([SortKey.parse(key) for key in NEWEST_FIRST], [created_at, pk]))
    return chained_page(ranked.order_by(*SORT_ORDERS[order]), older.order_by(*NEWEST_FIRST), size=size, after=after,
                        before=before)
