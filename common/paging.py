"""
Pagination for tables too big to count on every page view.

Django's Paginator counts every matching row to number its pages, and the admin asks
for that count on each changelist: at a million incidents an exact COUNT(*) reads the
whole table (or the whole filtered range) every time. `CappedCountPaginator` counts at
most `count_cap + 1` rows, so the count is a short scan that stops, whatever the
table's size. Past the cap it offers the pages of the first `count_cap` rows and says
there are more: a filter or a search narrows the list, and no one reads page 10,000
of an admin table.
"""
from __future__ import annotations

from django.core.paginator import Paginator
from django.db.models import QuerySet
from django.utils.functional import cached_property

COUNT_CAP = 10_000


class CappedCountPaginator(Paginator):
    """
    A Paginator whose `count` stops at `count_cap`, with `capped` true when more rows
    match; for `ModelAdmin.paginator` on large tables (templates/admin/ then say "more
    than N"). A list that is not a queryset is counted in full, as Django does.
    """

    count_cap = COUNT_CAP

    @cached_property
    def counted(self) -> int:
        """How many rows match, up to one more than the cap."""
        if not isinstance(self.object_list, QuerySet):
            return len(self.object_list)
        # Unordered: which rows fill the LIMIT does not change how many there are, and
        # the database is free to read them in the cheapest order.
        return self.object_list.order_by()[: self.count_cap + 1].count()

    @cached_property
    def count(self) -> int:
        return min(self.counted, self.count_cap)

    @property
    def capped(self) -> bool:
        return self.counted > self.count_cap
