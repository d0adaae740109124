from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from accounts.models import TokenScope, User
from accounts.services import api_token_create
from tests.alertmanager import integration_secret, start_alertmanager  # noqa: F401  (fixtures of the real Alertmanager tests)


def bearer_client(secret: str) -> Client:
    """A client that sends only the token: no session, no cookies."""
    return Client(HTTP_AUTHORIZATION=f"Bearer {secret}")


def token_for(user: User, *, scope: str = TokenScope.READ_WRITE, name: str = "script", days: int = 30) -> str:
    _, secret = api_token_create(user, name=name, scope=scope, expires_at=timezone.now() + timedelta(days=days),
                                 second_factor_verified=True)
    return secret


@pytest.fixture
def api_client() -> Callable[..., Client]:
    """`api_client(user, scope=...)`: a client authenticated by a new personal access token of `user`."""
    def make(user: User, *, scope: str = TokenScope.READ_WRITE) -> Client:
        return bearer_client(token_for(user, scope=scope))
    return make
