"""
Keyset ("seek") pagination and bounded counts, so a list costs the same on page 1 and
page 10,000 of a million rows.

A page link carries the sort key of the row it continues from (a cursor) instead of an
offset: the next page is "the rows after this one in this order", which an index on the
sort columns answers by starting right there and reading one page. Counting stops at
COUNT_CAP; beyond it the page says "more than" rather than scanning every match.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from django.core.exceptions import ValidationError
from django.db.models import Field, Model, Q, QuerySet

# A page's rows: model instances, or dicts of their values (QuerySet.values()).
R = TypeVar("R", bound=Model | Mapping[str, Any])

# Past this the list says "more than 100": counting 1,001 matches of random filter
# combinations took 8 to 11 ms of the database per page on average at a million
# incidents (up to 100 ms when PostgreSQL must test each row), 101 about 4 ms.
COUNT_CAP = 100
CURSOR_SEPARATOR = "~"


class InvalidCursor(ValueError):
    """A cursor that was not made by this list for this sort (edited, truncated or stale)."""


@dataclass(frozen=True)
class SortKey:
    name: str
    descending: bool

    @classmethod
    def parse(cls, ordering: str) -> SortKey:
        return cls(name=ordering.lstrip("-"), descending=ordering.startswith("-"))


@dataclass
class KeysetPage(Generic[R]):
    rows: list[R]
    next_cursor: str | None
    previous_cursor: str | None

    @property
    def has_other_pages(self) -> bool:
        return bool(self.next_cursor or self.previous_cursor)


def _sort_keys(queryset: QuerySet[Any, R]) -> list[SortKey]:
    ordering = [str(item) for item in queryset.query.order_by]
    if not ordering or ordering[-1].lstrip("-") != "id":
        raise ValueError("Keyset pagination needs an explicit ordering that ends with the primary key.")
    return [SortKey.parse(item) for item in ordering]


def _key_field(queryset: QuerySet[Any, R], name: str) -> Field[Any, Any]:
    """The field that types a sort key: a model column, or an annotation such as a search rank."""
    if name in queryset.query.annotations:
        return queryset.query.annotations[name].output_field
    field = queryset.model._meta.get_field(name)
    assert isinstance(field, Field), f"cannot sort a page by the relation {name}"
    return field


def encode_cursor(row: Model | Mapping[str, Any], keys: list[SortKey]) -> str:
    values = []
    for key in keys:
        value = row[key.name] if isinstance(row, Mapping) else getattr(row, key.name)
        values.append(value.isoformat() if hasattr(value, "isoformat") else repr(value))
    return CURSOR_SEPARATOR.join(values)


def decode_cursor(queryset: QuerySet[Any, R], keys: list[SortKey], cursor: str) -> list[Any]:
    parts = cursor.split(CURSOR_SEPARATOR)
    if len(parts) != len(keys):
        raise InvalidCursor(cursor)
    try:
        return [_key_field(queryset, key.name).to_python(part) for key, part in zip(keys, parts)]
    except (ValidationError, ValueError, TypeError) as error:
        raise InvalidCursor(cursor) from error


def rows_after(keys: list[SortKey], values: list[Any]) -> Q:
    """
    Rows strictly after `values` in the order `keys`: (a, b, c) after (x, y, z) is
    a > x, or a = x and b > y, or a = x and b = y and c > z (with < for descending keys).
    The leading a >= x is implied but spelled out: it is the index range to start from.
    """
    first = keys[0]
    after = Q(**{f"{first.name}__{'lte' if first.descending else 'gte'}": values[0]})
    either = Q()
    for position, key in enumerate(keys):
        equal = {prior.name: value for prior, value in zip(keys[:position], values[:position])}
        either |= Q(**equal, **{f"{key.name}__{'lt' if key.descending else 'gt'}": values[position]})
    return after & either


def _reversed(keys: list[SortKey]) -> list[SortKey]:
    return [SortKey(name=key.name, descending=not key.descending) for key in keys]


def _ordering(keys: list[SortKey]) -> list[str]:
    return [f"{'-' if key.descending else ''}{key.name}" for key in keys]


def keyset_page(queryset: QuerySet[Any, R], *, size: int, after: str = "", before: str = "") -> KeysetPage[R]:
    """
    One page of the ordered `queryset`: the first page, the page after cursor `after`,
    or the page before cursor `before`. Reads at most size + 1 rows. Raises
    InvalidCursor for a cursor this queryset's ordering cannot have produced.
    """
    keys = _sort_keys(queryset)
    backwards = bool(before) and not after
    cursor = after or before
    if cursor:
        values = decode_cursor(queryset, keys, cursor)
        seek_keys = _reversed(keys) if backwards else keys
        queryset = queryset.filter(rows_after(seek_keys, values)).order_by(*_ordering(seek_keys))
    rows = list(queryset[: size + 1])
    more = len(rows) > size
    rows = rows[:size]
    if backwards:
        rows.reverse()
    if not rows:
        return KeysetPage(rows=[], next_cursor=None, previous_cursor=None)
    has_next = bool(before) if backwards else more
    has_previous = more if backwards else bool(after)
    return KeysetPage(
        rows=rows,
        next_cursor=encode_cursor(rows[-1], keys) if has_next else None,
        previous_cursor=encode_cursor(rows[0], keys) if has_previous else None,
    )


def bounded_count(queryset: QuerySet[Any, R], cap: int = COUNT_CAP) -> int:
    """
    How many rows `queryset` has, counting no further than cap + 1: a page says "more
    than 100" rather than counting every match. At most cap + 1 index entries are read.
    """
    return queryset.order_by().values("pk")[: cap + 1].count()


def _in_part(page: KeysetPage[R], part: str) -> KeysetPage[R]:
    def tagged(cursor: str | None) -> str | None:
        return None if cursor is None else f"{part}{CURSOR_SEPARATOR}{cursor}"

    return KeysetPage(rows=page.rows, next_cursor=tagged(page.next_cursor), previous_cursor=tagged(page.previous_cursor))


def _last_page(queryset: QuerySet[Any, R], *, size: int) -> KeysetPage[R]:
    rows = list(queryset.reverse()[: size + 1])
    more = len(rows) > size
    rows = rows[:size][::-1]
    return KeysetPage(rows=rows, next_cursor=None,
                      previous_cursor=encode_cursor(rows[0], _sort_keys(queryset)) if more and rows else None)


def chained_page(first: QuerySet[Any, R], then: QuerySet[Any, R], *, size: int, after: str = "",
                 before: str = "") -> KeysetPage[R]:
    """
    One page of the rows of `first` followed by those of `then`: two disjoint querysets,
    each in its own keyset order. A page holds rows of one part only, and its cursors
    name their part ("1~…", "2~…"); "2~" alone is the edge between the parts (after it,
    the first page of `then`; before it, the last page of `first`).
    """
    part, separator, cursor = (after or before).partition(CURSOR_SEPARATOR)
    if (after or before) and (part not in ("1", "2") or not separator):
        raise InvalidCursor(after or before)
    backwards = bool(before) and not after
    edge = f"2{CURSOR_SEPARATOR}"
    if part == "2" and not cursor and backwards:
        page = _in_part(_last_page(first, size=size), "1")
        return KeysetPage(rows=page.rows, next_cursor=edge, previous_cursor=page.previous_cursor)
    if part == "2":
        page = _in_part(keyset_page(then, size=size, after="" if backwards else cursor,
                                    before=cursor if backwards else ""), "2")
        return KeysetPage(rows=page.rows, next_cursor=page.next_cursor, previous_cursor=page.previous_cursor or edge)
    page = _in_part(keyset_page(first, size=size, after="" if backwards else cursor,
                                before=cursor if backwards else ""), "1")
    if page.next_cursor is None and then.exists():
        return KeysetPage(rows=page.rows, next_cursor=edge, previous_cursor=page.previous_cursor)
    return page
