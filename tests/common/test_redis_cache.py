from __future__ import annotations

import pytest
from django.core.cache.backends.redis import RedisCache

from common.redis_cache import KeptClientRedisCache
from tests.conftest import TEST_REDIS_URL

pytestmark = pytest.mark.redis


def test_the_cache_keeps_one_client_per_pool_and_reads_what_django_wrote():
    kept = KeptClientRedisCache(TEST_REDIS_URL, {"KEY_PREFIX": "kept-client"})
    djangos = RedisCache(TEST_REDIS_URL, {"KEY_PREFIX": "kept-client"})
    djangos.set("generation", "g-1")
    assert kept.get("generation") == "g-1"
    kept.set("generation", "g-2")
    assert djangos.get("generation") == "g-2"
    assert kept.get_many(["generation", "missing"]) == {"generation": "g-2"}
    kept.delete("generation")
    assert djangos.get("generation") is None
    pools = kept._cache  # type: ignore[attr-defined]
    client = pools.get_client(write=True)
    assert pools.get_client(write=True) is client
    assert pools.get_client() is client  # One server: reads and writes share its pool.
