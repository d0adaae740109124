"""Site-wide error views: HTML pages for people, problem documents under /api/."""
from __future__ import annotations

import sys

from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views import defaults

from api.problems import PROBLEM_CONTENT_TYPE, problem

from .middleware import unavailable

API_PREFIX = "/api/"


def _api_problem(request: HttpRequest, status: int, detail: str) -> HttpResponse | None:
    """For a request to the API, the error as the API answers every other one (api/problems.py)."""
    if not request.path_info.startswith(API_PREFIX):
        return None
    return JsonResponse(problem(status, detail), status=status, content_type=PROBLEM_CONTENT_TYPE)


def bad_request(request: HttpRequest, exception: Exception) -> HttpResponse:
    """The 400 handler: a request refused before any view (a NUL in the query, a forged host...)."""
    return _api_problem(request, 400, str(exception) or "Bad request.") or defaults.bad_request(request, exception)


def page_not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    return (_api_problem(request, 404, "There is nothing at this address.")
            or defaults.page_not_found(request, exception))


def server_error(request: HttpRequest) -> HttpResponse:
    """
    The 500 handler. A database connection lost somewhere no middleware could catch it
    (while a later middleware saves the session, say) still gets the 503 page.
    """
    error = sys.exc_info()[1]
    if isinstance(error, (OperationalError, InterfaceError)):
        return unavailable(error)
    return _api_problem(request, 500, "Something went wrong on our side.") or defaults.server_error(request)
