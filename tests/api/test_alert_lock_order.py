"""
Monitoring resolving its incident while a responder starts work on another one, on
PostgreSQL, each on its own connection. Every writer takes the incident's row, then the
incident counts' rows (when status or severity changes), then the audit chain's lock.
Auto-resolve once wrote its comment's audit row first, holding the chain while it then
waited for the counts' rows; a responder's "Start work" holding those rows and waiting
for the chain made PostgreSQL abort one of them as a deadlock: a lost click, or a 500
for Alertmanager.

The moment is set with threads: a third writer holds the chain (a comment kept open
before its commit) until the resolve and then the responder queue behind it, in that
order, which is what the deadlock needs.
"""
from __future__ import annotations

import threading

import pytest
from django.db import connection

from api.models import AlertIntegration
from api.services import integration_create
from incidents.models import Incident
from incidents.services import comment_add, incident_transition
from incidents.workflow import Status
from tests.api import payloads
from tests.api.test_alerts import deliver
from tests.factories import make_incident
from tests.incidents.test_lock_order import in_own_connection
from tests.processes import wait_for

pytestmark = [pytest.mark.postgresql, pytest.mark.django_db(transaction=True)]


def connections_waiting_for_locks(*, advisory: bool = False) -> int:
    with connection.cursor() as cursor:
        if advisory:
            cursor.execute("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted")
        else:
            cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'")
        row = cursor.fetchone()
    return row[0] if row else 0


def test_monitoring_resolving_while_a_responder_starts_another_incident_saves_both(responder, reporter):
    _, secret = integration_create(AlertIntegration(name="Prometheus", kind="alertmanager"), actor=None)
    assert deliver(secret, payloads.firing()).status_code == 201
    alerted = Incident.objects.get()
    other = make_incident(reporter=reporter, title="Printer offline", severity=alerted.severity)
    elsewhere = make_incident(reporter=reporter, title="Wi-Fi slow")
    errors: list[Exception] = []
    answers: list[int] = []
    chain_held, may_commit = threading.Event(), threading.Event()

    def hold_the_chain() -> None:
        chain_held.set()
        may_commit.wait(timeout=30)

    holder = in_own_connection(lambda: comment_add(elsewhere, author=responder, body="<p>Looking.</p>"), errors,
                               before_commit=hold_the_chain)
    assert chain_held.wait(timeout=30), errors
    resolver = in_own_connection(lambda: answers.append(deliver(secret, payloads.resolved()).status_code), errors)
    wait_for(lambda: connections_waiting_for_locks(advisory=True) == 1, timeout=30)
    starter = in_own_connection(lambda: incident_transition(other, actor=responder, name="start"), errors)
    wait_for(lambda: connections_waiting_for_locks() == 2, timeout=30)
    may_commit.set()
    for thread in (holder, resolver, starter):
        thread.join(timeout=30)

    assert errors == [] and answers == [200]
    alerted.refresh_from_db()
    other.refresh_from_db()
    assert (alerted.status, alerted.acknowledged_at) == (Status.RESOLVED, None)
    assert other.status == Status.IN_PROGRESS
