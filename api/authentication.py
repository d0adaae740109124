"""
Who is calling the API: a personal access token (`Authorization: Bearer itk_...`) or the
browser session (with CSRF, as DRF's SessionAuthentication checks it). Each names the
channel in the audit context, so every audit row written while serving the request
says it came through the API, and with which token.
"""
from __future__ import annotations

import dataclasses
from typing import Any

from django.http import HttpRequest
from rest_framework.authentication import BaseAuthentication, SessionAuthentication, get_authorization_header
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.request import Request

from accounts.models import ApiToken, User
from accounts.services import api_token_authenticate
from audit.context import current_origin

INVALID_TOKEN = "The token is not valid: it is unknown, expired or revoked."


def audited_via(channel: str) -> None:
    """Mark the rest of this request's audit rows as made through `channel` (reset by AuditContextMiddleware)."""
    current_origin.set(dataclasses.replace(current_origin.get(), via=channel))


def bearer_secret(request: HttpRequest | Request) -> str | None:
    """The secret of an `Authorization: Bearer` header, None without one; a malformed one is refused."""
    parts = get_authorization_header(request).split()
    if not parts or parts[0].lower() != b"bearer":
        return None
    if len(parts) != 2:
        raise AuthenticationFailed("Send the token as `Authorization: Bearer <token>`.")
    try:
        return parts[1].decode("ascii")
    except UnicodeDecodeError as error:
        raise AuthenticationFailed(INVALID_TOKEN) from error


class SecretAuthentication(BaseAuthentication):
    """
    A bearer secret that `resolve` turns into the account it acts as, what it grants and
    the channel to name in audit rows (None for a wrong secret: 401).
    """

    realm: str
    refusal: str

    def authenticate(self, request: Request) -> tuple[User, Any] | None:
        secret = self.offered_secret(request)
        if secret is None:
            return None
        resolved = self.resolve(secret)
        if resolved is None:
            raise AuthenticationFailed(self.refusal)
        account, credential, channel = resolved
        audited_via(channel)
        return account, credential

    def offered_secret(self, request: Request) -> str | None:
        return bearer_secret(request)

    def authenticate_header(self, request: Request) -> str:
        return f'Bearer realm="{self.realm}"'

    def resolve(self, secret: str) -> tuple[User, Any, str] | None:
        raise NotImplementedError


class BearerTokenAuthentication(SecretAuthentication):
    """A personal access token: the request acts as the token's owner, within the token's scope."""

    realm = "api"
    refusal = INVALID_TOKEN

    def resolve(self, secret: str) -> tuple[User, ApiToken, str] | None:
        token = api_token_authenticate(secret)
        return (token.user, token, f"API token “{token.name}”") if token else None


class ApiSessionAuthentication(SessionAuthentication):
    """The signed-in browser session, CSRF-checked on writes."""

    def authenticate(self, request: Request) -> tuple[User, None] | None:
        result = super().authenticate(request)
        if result is not None:
            audited_via("API (browser session)")
        return result
