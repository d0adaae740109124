from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.db import connection
from django.http import HttpRequest, HttpResponse

QUERY_COUNT_HEADER = "X-Bench-Queries"


def query_count_header(get_response: Callable[[HttpRequest], HttpResponse]) -> Callable[[HttpRequest], HttpResponse]:
    """
    Counts the database queries a request runs and reports them in a response header.
    Outermost, so it sees every query of every middleware; a streamed body's queries run
    after the headers are sent and are not included.
    """

    def middleware(request: HttpRequest) -> HttpResponse:
        queries = 0

        def count(execute: Callable[..., Any], sql: str, params: Any, many: bool, context: Any) -> Any:
            nonlocal queries
            queries += 1
            return execute(sql, params, many, context)

        with connection.execute_wrapper(count):
            response = get_response(request)
        response[QUERY_COUNT_HEADER] = str(queries)
        return response

    return middleware
