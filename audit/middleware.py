from __future__ import annotations

from typing import Callable

from django.http import HttpRequest, HttpResponse

from .context import RequestOrigin, current_origin

MAX_USER_AGENT_LENGTH = 500


def client_ip(request: HttpRequest) -> str | None:
    """
    The client's address as the first trusted proxy saw it. Behind Render's (or any)
    load balancer REMOTE_ADDR is the proxy, so the right-most X-Forwarded-For entry
    added by that proxy is the client; without the header REMOTE_ADDR is the client.
    """
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    candidates = [part.strip() for part in forwarded.split(",") if part.strip()]
    return candidates[-1] if candidates else request.META.get("REMOTE_ADDR") or None


class AuditContextMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        origin = RequestOrigin(
            ip_address=client_ip(request),
            user_agent=request.META.get("HTTP_USER_AGENT", "")[:MAX_USER_AGENT_LENGTH],
        )
        token = current_origin.set(origin)
        try:
            return self.get_response(request)
        finally:
            current_origin.reset(token)
