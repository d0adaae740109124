"""Counting the queries of a page as a user gets it: rendered, with its rows read from the database."""
from __future__ import annotations

from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext


def rendered_page_queries(client: Client, url: str, params: dict[str, str] | None = None, *, shows: str,
                          table: str = "incidents_incident") -> int:
    """
    The queries of one request for `url`, after a first one (which may store session
    state). The page must show `shows` and have read `table`: a count taken from a page
    that was not rendered, or not read from the database, could never catch an N+1.
    """
    client.get(url, params or {})
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url, params or {})
    assert response.status_code == 200
    assert shows in response.content.decode(), f"the page shows {shows!r}"
    assert any(f'"{table}"' in query["sql"] for query in captured), f"the page read {table}"
    return len(captured)
