"""
What user text may contain, decided once on the way in (and again on the way out),
and what a cell of a CSV file may start with. Every app may import this module and it
imports none of them: incidents clean descriptions and titles, accounts clean people's
names, and both incidents and audit write CSV files.

Rich text (descriptions, comments) keeps a small safe subset of HTML; plain text
(titles, names) keeps no markup at all. Both are idempotent, so saving an unchanged
form again stores exactly what was there.

Spreadsheets run a cell that starts with `=`, `+`, `-` or `@` (and some also after a
leading tab or carriage return) as a formula; a title such as `=HYPERLINK(...)` would
then act when the file is opened. Such cells get a leading apostrophe, which the
spreadsheet shows as text (OWASP's advice for CSV injection).
"""
from __future__ import annotations

import html
import threading
from functools import partial

import bleach
from bleach.linkifier import LinkifyFilter

RICH_TEXT_TAGS = frozenset({"p", "br", "strong", "b", "em", "i", "code", "pre", "ul", "ol", "li", "blockquote", "a"})
RICH_TEXT_ATTRIBUTES = {"a": ["href", "title", "rel"]}
LINK_PROTOCOLS = frozenset({"http", "https", "mailto"})
LINK_REL = "nofollow noopener"
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def _set_link_rel(attrs: dict, new: bool = False) -> dict:
    attrs[(None, "rel")] = LINK_REL
    return attrs


def _new_rich_text_cleaner() -> bleach.Cleaner:
    return bleach.Cleaner(
        tags=RICH_TEXT_TAGS,
        attributes=RICH_TEXT_ATTRIBUTES,
        protocols=LINK_PROTOCOLS,
        strip=True,
        strip_comments=True,
        filters=[partial(LinkifyFilter, callbacks=[_set_link_rel], skip_tags=["pre", "code"])],
    )


# A Cleaner keeps its parser's state while it works, so two threads sharing one (gunicorn's
# threaded workers rendering two pages at once) corrupt each other: one Cleaner per thread.
_cleaners = threading.local()

# Unescaping can reveal markup that was hidden behind entities; a few rounds settle it.
_MAX_PLAIN_TEXT_ROUNDS = 10


def clean_rich_text(value: str) -> str:
    cleaner = getattr(_cleaners, "rich_text", None)
    if cleaner is None:
        cleaner = _cleaners.rich_text = _new_rich_text_cleaner()
    return cleaner.clean(value or "").strip()


def clean_plain_text(value: str) -> str:
    """Text with every tag removed, stored unescaped: templates escape it on the way out."""
    text = value or ""
    for _ in range(_MAX_PLAIN_TEXT_ROUNDS):
        cleaned = html.unescape(bleach.clean(text, tags=set(), strip=True, strip_comments=True))
        if cleaned == text:
            break
        text = cleaned
    return " ".join(text.split())


def neutralise(value: str) -> str:
    """A CSV cell a spreadsheet shows as text, never runs as a formula."""
    return f"'{value}" if value.startswith(FORMULA_PREFIXES) else value
