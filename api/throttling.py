from __future__ import annotations

from typing import Any

from django.conf import settings
from rest_framework.request import Request
from rest_framework.throttling import SimpleRateThrottle

from accounts.models import ApiToken
from audit.middleware import client_ip

from .models import AlertIntegration


class PerTokenThrottle(SimpleRateThrottle):
    """
    API_RATE_PER_MINUTE requests a minute per token (per user for the browser session,
    per address before authentication), counted in the shared cache so every worker and
    instance counts together. Past it: 429 with Retry-After.
    """

    scope = "token"

    def get_rate(self) -> str:
        return f"{settings.API_RATE_PER_MINUTE}/min"

    def get_ident(self, request: Request) -> str:
        """
        The client address the lockout and the audit log use (TRUSTED_PROXIES decides
        whose X-Forwarded-For is believed); DRF's own reads the raw header from anyone,
        so a client sending a new value on every request was never throttled.
        """
        return client_ip(request) or "unknown"

    def get_cache_key(self, request: Request, view: Any) -> str:
        if isinstance(request.auth, ApiToken):
            ident = f"token-{request.auth.pk}"
        elif request.user and request.user.is_authenticated:
            ident = f"user-{request.user.pk}"
        else:
            ident = f"address-{self.get_ident(request)}"
        return self.cache_format % {"scope": self.scope, "ident": ident}


class PerIntegrationThrottle(SimpleRateThrottle):
    """
    An alert integration's own rate_limit_per_minute (0, the default: no limit), counted
    in the shared cache. Past it: 429 with Retry-After, and the refusal is in the
    integration's delivery log.
    """

    scope = "alerts"

    def __init__(self) -> None:
        # The rate is the integration's, known only once the request is authenticated.
        self.rate: str | None = None

    def allow_request(self, request: Request, view: Any) -> bool:
        integration = request.auth
        if not isinstance(integration, AlertIntegration) or not integration.rate_limit_per_minute:
            return True
        self.rate = f"{integration.rate_limit_per_minute}/min"
        self.num_requests, self.duration = self.parse_rate(self.rate)
        return super().allow_request(request, view)

    def get_cache_key(self, request: Request, view: Any) -> str:
        assert isinstance(request.auth, AlertIntegration)
        return self.cache_format % {"scope": self.scope, "ident": f"integration-{request.auth.pk}"}
