"""
Django's Redis cache, with one client object per connection pool instead of one per
call. Django builds a new `redis.Redis` for every get and set, and its constructor fills
a table of some 170 response handlers each time: on a page that reads the session and
two kept results that was a tenth of the frame's cost. A client is safe to share between
threads; it holds no connection of its own, only the pool's.
"""
from __future__ import annotations

from typing import Any

from django.core.cache.backends.redis import RedisCache, RedisCacheClient


class SharedClientRedisCacheClient(RedisCacheClient):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._clients: dict[int, Any] = {}

    def get_client(self, key: Any = None, *, write: bool = False) -> Any:
        django_client: Any = self  # the private parts django-stubs does not describe
        pool = django_client._get_connection_pool(write)
        client = self._clients.get(id(pool))
        if client is None:
            client = self._clients[id(pool)] = django_client._client(connection_pool=pool)
        return client


class SharedClientRedisCache(RedisCache):
    def __init__(self, server: str, params: dict[str, Any]) -> None:
        super().__init__(server, params)
        self._class = SharedClientRedisCacheClient
