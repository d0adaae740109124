"""Typed access to the signed-in user for views and the admin behind a sign-in requirement."""
from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.http import HttpRequest

from .models import User


class AuthenticatedHttpRequest(HttpRequest):
    """For function-style handlers that only run for signed-in users."""

    user: User


def request_user(request: HttpRequest) -> User:
    """The signed-in user; an anonymous request that slipped past a mixin is refused, not served."""
    if not isinstance(request.user, User):
        raise PermissionDenied("Sign-in required.")
    return request.user
