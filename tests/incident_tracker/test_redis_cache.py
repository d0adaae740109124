"""The Redis cache production uses (REDIS_URL): Django's, sharing one client per connection pool."""
from __future__ import annotations

import secrets
import threading
from typing import Any, cast

from incident_tracker.redis_cache import SharedClientRedisCache

REDIS_URL = "redis://127.0.0.1:6379/4"


def test_values_round_trip_through_one_shared_client():
    cache = SharedClientRedisCache(REDIS_URL, {})
    key = f"test-{secrets.token_hex(8)}"
    cache.set(key, {"incident": 1, "title": "VPN down"}, 30)
    assert cache.get(key) == {"incident": 1, "title": "VPN down"}
    assert cache.get_or_set(f"{key}-other", lambda: "computed", 30) == "computed"
    cache.delete_many([key, f"{key}-other"])
    assert cache.get(key) is None
    cache_client = cast(Any, cache)._cache
    assert cache_client.get_client(write=True) is cache_client.get_client(), "no new client per call"


def test_threads_share_the_client_safely():
    cache = SharedClientRedisCache(REDIS_URL, {})
    prefix = f"test-{secrets.token_hex(8)}"
    failures: list[str] = []

    def read_and_write(number: int) -> None:
        for round_number in range(50):
            key = f"{prefix}-{number}-{round_number}"
            cache.set(key, number, 30)
            if cache.get(key) != number:
                failures.append(key)

    threads = [threading.Thread(target=read_and_write, args=(number,)) for number in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    cache.delete_many([f"{prefix}-{number}-{round_number}" for number in range(8) for round_number in range(50)])
    assert failures == []
