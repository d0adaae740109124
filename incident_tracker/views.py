"""Site-wide error views."""
from __future__ import annotations

import sys

from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse
from django.views.defaults import server_error as default_server_error

from .middleware import unavailable


def server_error(request: HttpRequest) -> HttpResponse:
    """
    The 500 handler. A database connection lost somewhere no middleware could catch it
    (while a later middleware saves the session, say) still gets the 503 page.
    """
    error = sys.exc_info()[1]
    if isinstance(error, (OperationalError, InterfaceError)):
        return unavailable(error)
    return default_server_error(request)
