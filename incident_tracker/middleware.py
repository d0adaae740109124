"""
Project-wide middleware for running the service: request ids and request log lines,
health probes answered ahead of everything else, and a clear 503 while the database is away.
"""
from __future__ import annotations

import logging
import re
import time
import uuid
from typing import Callable

from django.conf import settings
from django.core.exceptions import BadRequest
from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse
from django.template.loader import render_to_string
from django.utils.cache import add_never_cache_headers
from django.utils.functional import empty

from . import health, metrics
from .log import EMPTY, REQUEST_ID_META_KEY, RequestContext, current_request, redact_path

logger = logging.getLogger("incident_tracker.request")

REQUEST_ID_HEADER = "X-Request-ID"
# A proxy's id is reused only when it cannot smuggle anything into a log line or header.
SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}", re.ASCII)

HEALTH_VIEWS = {"/healthz": health.healthz, "/readyz": health.readyz}


def request_id_for(request: HttpRequest) -> str:
    offered = request.headers.get(REQUEST_ID_HEADER, "")
    return offered if SANE_REQUEST_ID.fullmatch(offered) else uuid.uuid4().hex


def resolved_user_id(request: HttpRequest) -> str:
    """
    The signed-in user's id if the request already looked the user up. Logging never
    triggers the lookup itself: that would cost a session query on every request and
    fail while the database is down.
    """
    user = request.__dict__.get("user")
    if user is None:
        return EMPTY
    user = getattr(user, "_wrapped", user)
    if user is empty:
        return EMPTY
    return str(user.pk) if user.pk is not None else "anonymous"


def view_label(request: HttpRequest) -> str:
    """A bounded set of names for the metrics: the URL name, never the raw path."""
    match = getattr(request, "resolver_match", None)
    if match is not None:
        return match.view_name
    if request.path_info in HEALTH_VIEWS:
        return request.path_info.strip("/")
    if request.path_info.startswith("/" + settings.STATIC_URL.lstrip("/")):
        return "static"
    return "unresolved"


class RequestLogMiddleware:
    """
    Outermost: gives the request its id (the proxy's X-Request-ID or a new one), makes
    it and the request's method and path available to every log line, returns it in the
    response, and writes one line per request with status, user and duration. It also
    feeds /metrics when METRICS_TOKEN is set.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        self.metrics_enabled = bool(settings.METRICS_TOKEN)

    def __call__(self, request: HttpRequest) -> HttpResponse:
        context = RequestContext(request_id=request_id_for(request), method=request.method or EMPTY,
                                 path=redact_path(request.path))
        request.META[REQUEST_ID_META_KEY] = context.request_id
        token = current_request.set(context)
        started = time.perf_counter()
        try:
            response = self.get_response(request)
            duration = time.perf_counter() - started
            context.user_id = resolved_user_id(request)
            response[REQUEST_ID_HEADER] = context.request_id
            level = logging.DEBUG if request.path_info in HEALTH_VIEWS else logging.INFO
            logger.log(level, "request finished",
                       extra={"status": response.status_code, "duration_ms": f"{duration * 1000:.1f}"})
            if self.metrics_enabled:
                metrics.observe_request(view=view_label(request), status=response.status_code, seconds=duration)
            return response
        finally:
            current_request.reset(token)


class HealthCheckMiddleware:
    """
    Answers /healthz and /readyz before any other middleware, so a probe is never
    redirected to HTTPS, refused for the load balancer's Host header, asked for a
    session or a second factor, or slowed by anything it does not need.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        probe = HEALTH_VIEWS.get(request.path_info)
        return probe(request) if probe is not None else self.get_response(request)


class DatabaseUnavailableMiddleware:
    """
    Turns a lost database connection into a plain 503 page within the connect timeout,
    instead of a 500 with a traceback in the log for every request. Django's connection
    health checks reconnect on the next request once the database is back.

    Sits right after the authentication middleware and looks the user up itself: the
    middleware after it reads the user (session and device tables) on every request,
    and an error raised there would become a 500 before any view ran.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        try:
            request.user.is_authenticated
        except (OperationalError, InterfaceError) as error:
            return unavailable(error)
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        return unavailable(exception) if isinstance(exception, (OperationalError, InterfaceError)) else None


def unavailable(error: Exception) -> HttpResponse:
    detail = str(error).strip()
    metrics.observe_database_error()
    logger.warning("database unavailable: %s: %s", error.__class__.__name__,
                   detail.splitlines()[0] if detail else "no detail")
    response = HttpResponse(render_to_string("503.html"), status=503)
    response["Retry-After"] = "30"
    add_never_cache_headers(response)
    return response


class RejectNulQueryMiddleware:
    """
    A NUL character in a query parameter is never meaningful and PostgreSQL refuses it in
    any text comparison, so a filter such as the admin's `?status__exact=%00` would fail
    with a server error. Such a request is answered 400 before anything reads it. (Forms
    refuse NUL in posted fields themselves, with a message next to the field.)
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if any("\x00" in key or any("\x00" in value for value in values) for key, values in request.GET.lists()):
            raise BadRequest("Query parameters may not contain NUL characters.")
        return self.get_response(request)
