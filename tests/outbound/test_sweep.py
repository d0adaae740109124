"""The sweep takes up work that lost its worker or its task, and leaves waiting work alone."""
from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from outbound import queue
from outbound.models import Delivery, Status
from outbound.services import mail_enqueue

pytestmark = pytest.mark.django_db


def _mail(key: str) -> Delivery:
    delivery = mail_enqueue(key=key, event="test", to="someone@example.com", subject="s", text="t")
    assert delivery is not None
    return delivery


def _tasks_for(delivery: Delivery) -> int:
    return DBTaskResult.objects.filter(args_kwargs__args__0=delivery.pk, status="READY").count()


def test_a_backlog_waiting_for_a_worker_is_not_enqueued_twice(database_queue, settings):
    waiting = _mail("backlog")
    with time_machine.travel(timezone.now() + 20 * queue.lease()):
        assert queue.sweep() == 0
    assert _tasks_for(waiting) == 1


def test_a_delivery_whose_worker_died_is_enqueued_again_and_its_lost_task_marked_failed(database_queue):
    held = _mail("held")
    task = DBTaskResult.objects.get()
    DBTaskResult.objects.filter(pk=task.pk).update(status="RUNNING", started_at=timezone.now())
    assert queue._claim(held.pk) is not None  # The worker took it, then died.
    with time_machine.travel(timezone.now() + queue.lease() / 2):
        assert queue.sweep() == 0  # Still within its lease: perhaps still sending.
    with time_machine.travel(timezone.now() + queue.lease() + timedelta(seconds=1)):
        assert queue.sweep() == 1
    assert _tasks_for(held) == 1
    assert DBTaskResult.objects.get(pk=task.pk).status == "FAILED"
    held.refresh_from_db()
    assert (held.status, held.locked_until) == (Status.PENDING, None)


def test_a_delivery_that_lost_its_task_is_enqueued_again_once_long_overdue(database_queue):
    orphan = _mail("orphan")
    DBTaskResult.objects.update(status="FAILED")  # The task failed before it could take the delivery.
    with time_machine.travel(timezone.now() + 5 * queue.lease()):
        assert queue.sweep() == 0
    with time_machine.travel(timezone.now() + 11 * queue.lease()):
        assert queue.sweep() == 1
        assert queue.sweep() == 0  # Its new task is waiting now.
    assert _tasks_for(orphan) == 1


def test_a_delivered_or_dead_delivery_is_never_taken_up_again(database_queue):
    for status in (Status.DELIVERED, Status.DEAD):
        delivery = _mail(f"done-{status}")
        Delivery.objects.filter(pk=delivery.pk).update(status=status, locked_until=timezone.now())
        assert queue._claim(delivery.pk) is None
    with time_machine.travel(timezone.now() + 20 * queue.lease()):
        assert queue.sweep() == 0
