"""The tokens of what workers keep: one round trip to the cache per request for all of them."""
from __future__ import annotations

import pytest
from django.core.cache import cache
from django.http import HttpResponse
from django.test import RequestFactory
from django.urls import reverse

from incident_tracker import tokens
from tests.factories import make_incident

pytestmark = pytest.mark.django_db


@pytest.fixture
def cache_reads(monkeypatch):
    """Every key the cache is asked for, one list per round trip."""
    trips: list[list[str]] = []
    get, get_many = cache.get, cache.get_many

    def counted_get(key, *args, **kwargs):
        trips.append([key])
        return get(key, *args, **kwargs)

    def counted_get_many(keys, *args, **kwargs):
        trips.append(list(keys))
        return get_many(keys, *args, **kwargs)

    monkeypatch.setattr(cache, "get", counted_get)
    monkeypatch.setattr(cache, "get_many", counted_get_many)
    return trips


def test_a_page_reads_every_token_in_one_round_trip(responder_client, reporter, cache_reads):
    make_incident(reporter=reporter)
    responder_client.get(reverse("incidents:list"))
    cache_reads.clear()
    assert responder_client.get(reverse("incidents:list")).status_code == 200
    token_trips = [keys for keys in cache_reads if set(keys) & set(tokens.TOKEN_KEYS)]
    assert token_trips == [list(tokens.TOKEN_KEYS)]


def test_a_token_replaced_during_a_request_is_replaced_for_the_rest_of_it():
    seen: list[str] = []

    def view(request):
        seen.append(tokens.current_token(tokens.INCIDENT_RESULTS))
        tokens.replace_token(tokens.INCIDENT_RESULTS)
        seen.append(tokens.current_token(tokens.INCIDENT_RESULTS))
        return HttpResponse()

    tokens.RequestTokensMiddleware(view)(RequestFactory().get("/"))
    before, after = seen
    assert before != after == cache.get(tokens.INCIDENT_RESULTS)


def test_each_request_reads_the_tokens_afresh():
    seen: list[str] = []

    def view(request):
        seen.append(tokens.current_token(tokens.SIGNED_IN_ROWS))
        return HttpResponse()

    middleware = tokens.RequestTokensMiddleware(view)
    middleware(RequestFactory().get("/"))
    tokens.replace_token(tokens.SIGNED_IN_ROWS)  # by another worker, between the two requests
    middleware(RequestFactory().get("/"))
    assert seen[0] != seen[1] == cache.get(tokens.SIGNED_IN_ROWS)
