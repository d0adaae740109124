from __future__ import annotations

import ipaddress
from typing import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse

from .context import RequestOrigin, current_origin

MAX_USER_AGENT_LENGTH = 500

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def _address(value: str | None) -> IPAddress | None:
    try:
        return ipaddress.ip_address((value or "").strip())
    except ValueError:
        return None


def _trusted(address: IPAddress) -> bool:
    return any(address in ipaddress.ip_network(network, strict=False) for network in settings.TRUSTED_PROXIES)


def client_ip(request: HttpRequest) -> str | None:
    """
    The one client address that the lockout, the password-reset limit and the audit rows
    use. X-Forwarded-For is whatever the client sent plus what each proxy appended, so it
    is read from the right, and only while the address it came from is one of
    TRUSTED_PROXIES: the first address no trusted proxy owns is the client. A client that
    connects directly, or through a proxy nobody listed, is its REMOTE_ADDR whatever
    header it sends.
    """
    client = _address(request.META.get("REMOTE_ADDR"))
    hops = [part for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if part.strip()]
    while client is not None and hops and _trusted(client):
        forwarded = _address(hops.pop())
        if forwarded is None:
            # A trusted proxy never writes garbage: a client did, so the proxy is the last address known.
            break
        client = forwarded
    return str(client) if client is not None else None


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
