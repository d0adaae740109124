"""
Who may call an API operation at all. What they may do to a given incident is decided by
incidents.permissions inside the services, exactly as for the web pages.
"""
from __future__ import annotations

from typing import Any

from rest_framework.permissions import SAFE_METHODS, IsAuthenticated
from rest_framework.request import Request

from accounts.models import ApiToken


class TokenScopePermission(IsAuthenticated):
    """Signed in (or a valid token); and a read-only token never writes, whatever its owner may do."""

    message = "This token is read-only: create a read-write token to make changes."

    def has_permission(self, request: Request, view: Any) -> bool:
        if not super().has_permission(request, view):
            return False
        token = request.auth
        return not isinstance(token, ApiToken) or request.method in SAFE_METHODS or token.can_write
