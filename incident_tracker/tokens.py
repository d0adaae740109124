"""
Tokens in the shared cache that say "what you kept is out of date": a worker keeps a
result under the token current when it read it, and a write replaces the token, so
every worker's next read misses and reads afresh (incidents/kept.py, accounts/signed_in.py).
"""
from __future__ import annotations

import secrets

from django.core.cache import cache


def current_token(key: str) -> str:
    token = cache.get(key)
    if token is None:
        cache.add(key, secrets.token_hex(8), None)
        token = cache.get(key)
    return str(token)


def replace_token(key: str) -> None:
    cache.set(key, secrets.token_hex(8), None)
