"""
Account-wide rules that hold for every page: staff are verified by a second factor
before they reach anything, sessions end after idling or after a fixed lifetime,
pages for a signed-in user are never kept by a shared cache, and dates show in the
user's own time zone.
"""
from __future__ import annotations

import time
import zoneinfo
from typing import Any, Callable

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import redirect
from django.utils import timezone
from django.utils.cache import patch_cache_control
from django_otp import user_has_device

from . import twostep

GetResponse = Callable[[HttpRequest], HttpResponseBase]

SIGNED_IN_AT_KEY = "accounts_signed_in_at"
LAST_SEEN_AT_KEY = "accounts_last_seen_at"
# Refreshing the last-seen time at most once a minute saves a session write per request.
LAST_SEEN_RESOLUTION = 60


class PrivateCacheMiddleware:
    """A signed-in user's page is theirs alone: `Cache-Control: private, no-store` on every one."""

    def __init__(self, get_response: GetResponse) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        response = self.get_response(request)
        if request.user.is_authenticated:
            patch_cache_control(response, private=True, no_store=True)
        return response


class SessionLifetimeMiddleware:
    """
    Ends a session idle for longer than SESSION_IDLE_TIMEOUT or older than
    SESSION_ABSOLUTE_LIFETIME seconds since sign-in, whatever the cookie says.
    """

    def __init__(self, get_response: GetResponse) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        if request.user.is_authenticated:
            now = time.time()
            signed_in_at = request.session.setdefault(SIGNED_IN_AT_KEY, now)
            last_seen_at = request.session.get(LAST_SEEN_AT_KEY, now)
            if now - last_seen_at > settings.SESSION_IDLE_TIMEOUT or now - signed_in_at > settings.SESSION_ABSOLUTE_LIFETIME:
                logout(request)
                messages.info(request, "Your session expired. Sign in again to continue.")
                return redirect_to_login(request.get_full_path())
            if now - last_seen_at >= LAST_SEEN_RESOLUTION or LAST_SEEN_AT_KEY not in request.session:
                request.session[LAST_SEEN_AT_KEY] = now
        return self.get_response(request)


class SecondFactorRequiredMiddleware:
    """
    Staff and superusers whose session no device has verified reach only the
    security page and an enrolment link (to enrol), the code step (to verify) and
    sign-out. Enrolling itself needs the link (accounts.twostep.may_enrol_at_will). Static files
    are served before this runs.
    """

    ALLOWED_VIEWS = frozenset({
        "accounts:security", "accounts:enrol_start", "accounts:enrol_confirm", "accounts:enrol_link",
        "accounts:enrol_link_request", "accounts:login_code", "accounts:logout",
    })

    def __init__(self, get_response: GetResponse) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        return self.get_response(request)

    def process_view(self, request: HttpRequest, view_func: Any, view_args: Any, view_kwargs: Any) -> HttpResponse | None:
        user = request.user
        if not user.is_authenticated or not twostep.needs_second_factor(user):
            return None
        if request.resolver_match and request.resolver_match.view_name in self.ALLOWED_VIEWS:
            return None
        if user_has_device(user, confirmed=True):
            return redirect("accounts:login_code")
        messages.warning(request, "Staff accounts need two-factor sign-in. Set it up to continue.")
        return redirect("accounts:security")


class UserTimeZoneMiddleware:
    """
    Show dates in the signed-in user's own time zone (their preference, else the site's
    TIME_ZONE). Activation is per request and undone afterwards, so a thread that serves
    the next visitor never keeps someone else's zone.
    """

    def __init__(self, get_response: GetResponse) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        name = getattr(request.user, "time_zone", "")
        if name:
            timezone.activate(zoneinfo.ZoneInfo(name))
        try:
            return self.get_response(request)
        finally:
            timezone.deactivate()
