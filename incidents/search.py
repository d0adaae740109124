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

SEARCH_CONFIG = "english"
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
