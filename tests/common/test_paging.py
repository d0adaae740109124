"""The capped paginator counts what a page needs and no more, and says when it stopped."""
from __future__ import annotations

import pytest
from django.core.paginator import EmptyPage
from django.db import connection
from django.test.utils import CaptureQueriesContext

from common.paging import CappedCountPaginator
from incidents.models import Incident
from tests.factories import make_incidents

pytestmark = pytest.mark.django_db


class SmallCap(CappedCountPaginator):
    count_cap = 4


def test_under_the_cap_the_count_is_exact(reporter):
    make_incidents(3, reporter=reporter)
    paginator = SmallCap(Incident.objects.order_by("-created_at"), 2)
    with CaptureQueriesContext(connection) as queries:
        assert (paginator.count, paginator.capped, paginator.num_pages) == (3, False, 2)
    assert len(queries) == 1
    # The count reads at most one row past the cap, and does not sort what it reads.
    assert "LIMIT 5" in queries[0]["sql"]
    assert "ORDER BY" not in queries[0]["sql"]
    assert [incident.title for incident in paginator.page(2)] == ["Incident 0"]


def test_at_the_cap_the_count_is_still_exact(reporter):
    make_incidents(4, reporter=reporter)
    paginator = SmallCap(Incident.objects.all(), 2)
    assert (paginator.count, paginator.capped) == (4, False)


def test_over_the_cap_it_stops_and_offers_the_pages_of_the_rows_counted(reporter):
    make_incidents(7, reporter=reporter)
    paginator = SmallCap(Incident.objects.order_by("-created_at"), 2)
    assert (paginator.count, paginator.capped, paginator.num_pages) == (4, True, 2)
    assert [incident.title for incident in paginator.page(1)] == ["Incident 6", "Incident 5"]
    assert [incident.title for incident in paginator.page(2)] == ["Incident 4", "Incident 3"]
    with pytest.raises(EmptyPage):
        paginator.page(3)


def test_a_list_is_counted_in_full():
    paginator = SmallCap(list(range(10)), 5)
    assert (paginator.count, paginator.capped) == (4, True)
