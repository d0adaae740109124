"""
Deliveries that arrive together, each on its own connection to PostgreSQL (the live
server answers each request in its own thread): 50 copies of one new group's first
notification open one incident, and a burst over several groups opens one per group,
each counting its notifications. SQLite serialises every write, so there is no race to
test there and these are skipped.
"""
from __future__ import annotations

import json
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest

from api.models import AlertGroup, AlertIntegration
from api.services import integration_create
from incidents.models import Incident
from tests.api import payloads

pytestmark = [pytest.mark.postgresql, pytest.mark.django_db(transaction=True)]


def post(url: str, secret: str, body: dict) -> int:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST", headers={
        "Authorization": f"Bearer {secret}", "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def in_parallel(url: str, secret: str, bodies: list[dict], senders: int) -> list[int]:
    with ThreadPoolExecutor(max_workers=senders) as pool:
        return list(pool.map(lambda body: post(url, secret, body), bodies))


@pytest.fixture
def secret() -> str:
    return integration_create(AlertIntegration(name="Prometheus", kind="alertmanager"), actor=None)[1]


def test_fifty_parallel_deliveries_of_one_new_group_open_one_incident(live_server, secret):
    statuses = in_parallel(f"{live_server.url}/api/v1/alerts/alertmanager/", secret, [payloads.firing()] * 50, 50)
    assert sorted(set(statuses)) == [200, 201] and statuses.count(201) == 1
    assert Incident.objects.count() == 1
    assert AlertGroup.objects.get().notifications == 1


def test_a_burst_over_many_groups_opens_one_incident_per_group_and_counts_repeats(live_server, secret):
    bodies = [payloads.firing(group_key=f'{{}}:{{alertname="g{group}"}}', starts_at=f"2020-01-01T00:{repeat:02d}:00Z")
              for repeat in range(5) for group in range(20)]
    statuses = in_parallel(f"{live_server.url}/api/v1/alerts/alertmanager/", secret, bodies, 10)
    assert set(statuses) <= {200, 201} and statuses.count(201) == 20
    assert Incident.objects.count() == 20
    assert sorted(AlertGroup.objects.values_list("notifications", flat=True)) == [5] * 20
