"""
Tokens in the shared cache that say "what you kept is out of date": a worker keeps a
result under the token current when it read it, and a write replaces the token, so
every worker's next read misses and reads afresh (incidents/kept.py, accounts/signed_in.py).

A request needs both tokens (the signed-in user's rows, then the page it asks for), so
within a request (RequestTokensMiddleware) the first one asked for brings the other in
the same round trip to the cache, and a token the request itself replaces is replaced
for the rest of it too.
"""
from __future__ import annotations

import secrets
from collections.abc import Callable
from contextvars import ContextVar

from django.core.cache import cache
from django.http import HttpRequest, HttpResponseBase

INCIDENT_RESULTS = "incident-results-generation"
SIGNED_IN_ROWS = "signed-in-rows-generation"
TOKEN_KEYS = (INCIDENT_RESULTS, SIGNED_IN_ROWS)

# The tokens the current request has read; None outside a request (commands, tasks).
_read_this_request: ContextVar[dict[str, str] | None] = ContextVar("tokens_read_this_request", default=None)


def _read_or_create(key: str) -> str:
    token = cache.get(key)
    if token is None:
        cache.add(key, secrets.token_hex(8), None)
        token = cache.get(key)
    return str(token)


def current_token(key: str) -> str:
    read = _read_this_request.get()
    if read is None:
        return _read_or_create(key)
    if key not in read:
        unread = [name for name in TOKEN_KEYS if name not in read]
        read.update((name, str(token)) for name, token in cache.get_many(unread).items())
        if key not in read:
            read[key] = _read_or_create(key)
    return read[key]


def replace_token(key: str) -> None:
    token = secrets.token_hex(8)
    cache.set(key, token, None)
    read = _read_this_request.get()
    if read is not None:
        read[key] = token


class RequestTokensMiddleware:
    """Each request reads the tokens afresh, once (see the module's docstring)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        scope = _read_this_request.set({})
        try:
            return self.get_response(request)
        finally:
            _read_this_request.reset(scope)
