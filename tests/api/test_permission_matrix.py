"""
The web's permission matrix through every API endpoint: anonymous, a revoked or an
expired token, a read-only token (its owner's, writing), a stranger (another reporter),
the incident's own reporter, a responder and an administrator. Each row is one request
on a fresh database, with the status each caller gets.
"""
from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from accounts.models import ApiToken
from accounts.services import api_token_revoke
from tests.api.conftest import bearer_client, token_for
from tests.factories import make_category, make_incident, make_user

pytestmark = pytest.mark.django_db

CALLERS = ("anonymous", "revoked", "expired", "read_only", "stranger", "owner", "responder", "administrator")
# method, path, body, then the status each caller gets, in the order of CALLERS.
MATRIX = [
    ("get", "incidents/", None, (401, 401, 401, 200, 200, 200, 200, 200)),
    ("post", "incidents/", {"title": "New", "description": "Text"}, (401, 401, 401, 403, 201, 201, 201, 201)),
    ("get", "incidents/{id}/", None, (401, 401, 401, 200, 404, 200, 200, 200)),
    ("patch", "incidents/{id}/", {"title": "Renamed"}, (401, 401, 401, 403, 404, 200, 200, 200)),
    ("post", "incidents/{id}/transitions/", {"to": "in_progress"}, (401, 401, 401, 403, 404, 403, 200, 200)),
    ("get", "incidents/{id}/comments/", None, (401, 401, 401, 200, 404, 200, 200, 200)),
    ("post", "incidents/{id}/comments/", {"body": "Hi"}, (401, 401, 401, 403, 404, 201, 201, 201)),
    ("get", "incidents/{id}/timeline/", None, (401, 401, 401, 200, 404, 200, 200, 200)),
    ("get", "categories/", None, (401, 401, 401, 200, 200, 200, 200, 200)),
    ("get", "me/", None, (401, 401, 401, 200, 200, 200, 200, 200)),
    ("get", "oncall/schedules/", None, (401, 401, 401, 403, 403, 403, 200, 200)),
    ("post", "oncall/schedules/", {"name": "Platform"}, (401, 401, 401, 403, 403, 403, 403, 201)),
    ("get", "oncall/policies/", None, (401, 401, 401, 403, 403, 403, 200, 200)),
    ("post", "oncall/rules/", {"severity": 1, "policy": None}, (401, 401, 401, 403, 403, 403, 403, 201)),
    ("post", "alerts/alertmanager/", {"version": "4"}, (401, 401, 401, 401, 401, 401, 401, 401)),
    ("post", "alerts/generic/", {"source": "x"}, (401, 401, 401, 401, 401, 401, 401, 401)),
]
CASES = [pytest.param(method, path, body, caller, statuses[index], id=f"{method} {path} as {caller}")
         for method, path, body, statuses in MATRIX for index, caller in enumerate(CALLERS)]


def client_for(caller: str, owner) -> Client:
    if caller == "anonymous":
        return Client()
    if caller in ("revoked", "expired"):
        secret = token_for(owner, days=1)
        token = ApiToken.objects.get(user=owner, revoked_at__isnull=True)
        if caller == "revoked":
            api_token_revoke(token, actor=owner)
        else:
            ApiToken.objects.filter(pk=token.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
        return bearer_client(secret)
    if caller == "read_only":
        return bearer_client(token_for(owner, scope="read"))
    people = {
        "stranger": lambda: make_user(username="stranger"),
        "owner": lambda: owner,
        "responder": lambda: make_user(username="responder", is_staff=True),
        "administrator": lambda: make_user(username="administrator", is_staff=True, is_superuser=True),
    }
    return bearer_client(token_for(people[caller]()))


@pytest.mark.parametrize("method, path, body, caller, expected", CASES)
def test_every_endpoint_answers_each_caller_as_the_web_would(method, path, body, caller, expected):
    owner = make_user(username="owner")
    make_category()
    incident = make_incident(reporter=owner)
    client = client_for(caller, owner)
    response = getattr(client, method)(
        f"/api/v1/{path.format(id=incident.pk)}", data=json.dumps(body) if body is not None else None,
        content_type="application/json", headers={"If-Match": '"v1"'})
    assert response.status_code == expected, response.content
    if expected >= 400:
        assert response["Content-Type"] == "application/problem+json"
