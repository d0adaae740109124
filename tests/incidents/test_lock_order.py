"""
Two writes of one person at once, in the order that used to deadlock on PostgreSQL: a
comment that holds the audit chain's lock reaches its COMMIT, where PostgreSQL checks
its foreign keys (Django's are deferred), while a report by the same person has locked
that person's row and waits for the chain. Both must be saved; under the mixed load one
of them failed as "deadlock detected" and its author saw a 503.

The moment is set with threads, each with its own connection: the comment's transaction
is held open until the report is seen waiting for the chain.
"""
from __future__ import annotations

import threading
import uuid
from collections.abc import Callable

import pytest
from django.db import connection, transaction

from audit.models import Action, AuditLog
from incidents.models import Comment, Incident
from incidents.services import comment_add, incident_create
from tests.factories import make_incident
from tests.processes import wait_for

pytestmark = [pytest.mark.postgresql, pytest.mark.django_db(transaction=True)]


def in_own_connection(work: Callable[[], object], errors: list[Exception], *,
                      before_commit: Callable[[], object] = lambda: None) -> threading.Thread:
    """`work` in a transaction of a thread's own connection, with `before_commit` run just before COMMIT."""

    def run() -> None:
        try:
            with transaction.atomic():
                work()
                before_commit()
        except Exception as error:
            errors.append(error)
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def waiting_for_the_audit_chain() -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted")
        row = cursor.fetchone()
    return bool(row and row[0])


def test_a_comment_committing_while_its_author_files_a_report_saves_both(reporter):
    incident = make_incident(reporter=reporter)
    errors: list[Exception] = []
    commented, may_commit = threading.Event(), threading.Event()

    def hold_open() -> None:
        commented.set()
        may_commit.wait(timeout=30)

    comment = in_own_connection(lambda: comment_add(incident, author=reporter, body="<p>Still down.</p>"), errors,
                                before_commit=hold_open)
    assert commented.wait(timeout=30), errors
    report = in_own_connection(lambda: incident_create(
        reporter=reporter, title="Printer offline", description="<p>Floor 2.</p>", submission_token=uuid.uuid4(),
    ), errors)
    wait_for(waiting_for_the_audit_chain, timeout=30)
    may_commit.set()
    comment.join(timeout=30)
    report.join(timeout=30)

    assert errors == []
    assert Comment.objects.filter(incident=incident, body="<p>Still down.</p>").exists()
    assert Incident.objects.filter(reporter=reporter, title="Printer offline").exists()
    assert AuditLog.objects.filter(action__in=[Action.INCIDENT_COMMENTED, Action.INCIDENT_REPORTED]).count() == 2
