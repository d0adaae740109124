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
from collections.abc import Callable
from typing import TypeVar

from django.db import OperationalError, connections, transaction
from psycopg.errors import QueryCanceled

T = TypeVar("T")
SEARCH_CONFIG = "english"
# How long PostgreSQL's own plan of a search page may take before it is read through the
# GIN index alone (read_search).
PLANNED_SEARCH_MS = 200
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


def read_search(read: Callable[[], T], *, using: str) -> T:
    """
    read()'s queries of a search page, as PostgreSQL plans them, or if that takes longer
    than PLANNED_SEARCH_MS, again through the GIN index alone.

    PostgreSQL estimates how many incidents match two words as if the words were
    independent. For two words that never appear together it then walks an ordered
    index through the whole table looking for matches (seconds at a million incidents:
    "syncing valid" sorted by newest took 6.9 s), where the GIN index answers in about
    30 ms. For one common word the ordered walk is the fast way (13 ms for "users"), and
    reading every match through the GIN index the slow one (600 ms). Only the time spent
    tells them apart.
    """
    connection = connections[using]
    if connection.vendor != "postgresql":
        return read()
    try:
        with transaction.atomic(using=using), connection.cursor() as cursor:
            cursor.execute(f"SET LOCAL statement_timeout = {PLANNED_SEARCH_MS}")
            return read()
    except OperationalError as error:
        if not isinstance(error.__cause__, QueryCanceled):
            raise
    with transaction.atomic(using=using), connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SET LOCAL enable_indexscan = off")
        return read()
