"""
The work queue: Django's Tasks API (the django-tasks backport) with the django-tasks-db
backend, so a task is a row written in the transaction of the change that asks for it.
The queue says *when* to try; the Delivery row says *what* and whether it is done, so a
task that runs twice, or late, or after its worker died, does no harm:

- a worker claims a delivery by leasing it (a conditional UPDATE), so two workers never
  send it at once, and a finished delivery is never sent again;
- a failed try is recorded as an Attempt and retried with exponential backoff and
  jitter, until the channel's last try, when the delivery is dead (visible in the admin,
  where "retry now" takes it up again);
- a worker killed mid-task leaves its lease to run out; `sweep()`, which every worker runs
  once a minute, enqueues such deliveries again and marks the lost task failed.
"""
from __future__ import annotations

import logging
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Case, Count, Min, When
from django.utils import timezone
from django_tasks import task
from django_tasks.signals import task_enqueued
from django_tasks_db.backend import DatabaseBackend
from django_tasks_db.models import DBTaskResult, get_date_max

from .models import Attempt, Channel, Delivery, Status
from .transport import Outcome

logger = logging.getLogger(__name__)

# Deliveries one sweep recovers at most; the next sweep takes the rest.
SWEEP_BATCH = 1000


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff from `first_delay`, capped at `longest_delay`, over `attempts` tries in all."""

    attempts: int
    first_delay: timedelta
    longest_delay: timedelta

    def delay(self, failures: int) -> timedelta:
        """The wait after the `failures`-th failed try, ±20 % so that retries after an outage do not arrive together."""
        base = min(self.first_delay * 2 ** (failures - 1), self.longest_delay)
        return base * random.uniform(0.8, 1.2)

    def span(self) -> timedelta:
        return sum((min(self.first_delay * 2 ** (n - 1), self.longest_delay) for n in range(1, self.attempts)),
                   timedelta())


RETRY_POLICIES = {
    # About three hours: a mail later than that is news nobody can act on any more.
    Channel.MAIL: RetryPolicy(attempts=10, first_delay=timedelta(seconds=30), longest_delay=timedelta(hours=1)),
    # About a day, as receivers of Standard Webhooks expect.
    Channel.WEBHOOK: RetryPolicy(attempts=17, first_delay=timedelta(seconds=10), longest_delay=timedelta(hours=4)),
}


def lease() -> timedelta:
    """How long a worker holds a delivery: longer than any one try can take (each network step has its own timeout)."""
    return timedelta(seconds=settings.TASK_LEASE_SECONDS)


@task()
def deliver(delivery_id: int) -> str:
    """Try delivery `delivery_id` once; the queue's only task for deliveries."""
    return attempt(delivery_id)


def enqueue(delivery: Delivery, *, at: datetime | None = None) -> None:
    """Ask a worker to try `delivery` (at `at`, else now), in the caller's transaction."""
    deliver.using(run_after=at).enqueue(delivery.pk)


def enqueue_many(deliveries: Sequence[Delivery]) -> None:
    """
    Ask a worker to try each of `deliveries` now, one task each (so each is retried on its
    own), in the caller's transaction. django-tasks writes one row per enqueue; on the
    database queue this writes the same rows as its DatabaseBackend.enqueue in one INSERT,
    so that a mail to every responder does not cost a query per responder
    (docs/performance.md, "Fan-out"). Other backends (the tests' immediate one) enqueue each.
    """
    backend = deliver.get_backend()
    if not isinstance(backend, DatabaseBackend):
        for delivery in deliveries:
            enqueue(delivery)
        return
    backend.validate_task(deliver)
    # run_after as the backend's pre_save handler sets it for "now", which bulk_create does not run.
    tasks = DBTaskResult.objects.bulk_create(
        DBTaskResult(args_kwargs={"args": [delivery.pk], "kwargs": {}}, priority=deliver.priority,
                     task_path=deliver.module_path, queue_name=deliver.queue_name, run_after=get_date_max(),
                     backend_name=backend.alias)
        for delivery in deliveries)
    for row in tasks:
        task_enqueued.send(type(backend), task_result=row.task_result)


def _claim(delivery_id: int) -> Delivery | None:
    now = timezone.now()
    claimed = (Delivery.objects.filter(pk=delivery_id, status=Status.PENDING)
               .exclude(locked_until__gt=now)
               .update(locked_until=now + lease()))
    return Delivery.objects.select_related("subscription").get(pk=delivery_id) if claimed else None


def attempt(delivery_id: int) -> str:
    """Send a pending delivery once and record how it went; a delivery that is done or held elsewhere is left alone."""
    from .services import send  # The services build messages on the models this module runs.

    delivery = _claim(delivery_id)
    if delivery is None:
        return "skipped: delivered, dead, or held by another worker"
    started = timezone.now()
    clock = time.monotonic()
    outcome = send(delivery)
    duration_ms = round((time.monotonic() - clock) * 1000)
    with transaction.atomic():
        Attempt.objects.create(delivery=delivery, started_at=started, duration_ms=duration_ms,
                               status_code=outcome.status_code, error=outcome.error)
        _record(delivery, outcome, started=started)
    return delivery.status


def _record(delivery: Delivery, outcome: Outcome, *, started: datetime) -> None:
    from .services import subscription_failed, subscription_succeeded  # They queue mail through this module.

    now = timezone.now()
    delivery.attempts += 1
    delivery.last_status_code = outcome.status_code
    delivery.last_error = outcome.error
    delivery.locked_until = None
    policy = RETRY_POLICIES[Channel(delivery.channel)]
    if outcome.delivered:
        delivery.status = Status.DELIVERED
        delivery.delivered_at = now
    elif outcome.hopeless or delivery.attempts >= policy.attempts:
        delivery.status = Status.DEAD
        logger.error("delivery %s dead after %s tries: %s", delivery.pk, delivery.attempts, outcome.error)
    else:
        delivery.next_attempt_at = now + policy.delay(delivery.attempts)
        enqueue(delivery, at=delivery.next_attempt_at)
    delivery.save(update_fields=["attempts", "last_status_code", "last_error", "locked_until", "status",
                                 "delivered_at", "next_attempt_at"])
    if delivery.subscription is not None:
        if outcome.delivered:
            subscription_succeeded(delivery.subscription)
        else:
            subscription_failed(delivery.subscription, outcome=outcome, delivery=delivery, tried_at=started)


def retry_now(delivery: Delivery) -> None:
    """Take up a dead or waiting delivery again at once, with a fresh count of tries."""
    with transaction.atomic():
        Delivery.objects.filter(pk=delivery.pk).exclude(status=Status.DELIVERED).update(
            status=Status.PENDING, attempts=0, next_attempt_at=timezone.now(), locked_until=None)
        enqueue(delivery)


def sweep() -> int:
    """
    Recover from workers that died mid-task. A delivery whose lease ran out is enqueued
    again, and so is one long overdue with no task waiting for it (its task failed
    before it could take the delivery); tasks still marked running after a lease are
    marked failed. Returns how many deliveries were enqueued again.
    """
    now = timezone.now()
    with transaction.atomic():
        abandoned = set(Delivery.objects.abandoned().select_for_update(skip_locked=True)
                        .values_list("pk", flat=True)[:SWEEP_BATCH])
        overdue = set(Delivery.objects.overdue(before=now - 10 * lease()).select_for_update(skip_locked=True)
                      .values_list("pk", flat=True)[:SWEEP_BATCH])
        waiting = DBTaskResult.objects.filter(status__in=["READY", "RUNNING"], task_path=deliver.module_path,
                                              args_kwargs__args__0__in=overdue)
        orphans = overdue - set(waiting.values_list("args_kwargs__args__0", flat=True))
        recovered = sorted(abandoned | orphans)
        Delivery.objects.filter(pk__in=recovered).update(locked_until=None, next_attempt_at=now)
        for delivery_id in recovered:
            deliver.enqueue(delivery_id)
        lost = DBTaskResult.objects.running().filter(started_at__lt=now - lease()).update(
            status="FAILED", finished_at=now, exception_class_path="outbound.queue.WorkerLost",
            traceback="The worker stopped during this task; its delivery was enqueued again.")
    if recovered or lost:
        logger.warning("queue sweep: %s deliveries enqueued again, %s lost tasks marked failed", len(recovered), lost)
    return len(recovered)


@dataclass(frozen=True)
class QueueState:
    waiting: int
    oldest_wait_seconds: float
    dead: int

    def stuck(self) -> bool:
        return self.oldest_wait_seconds > settings.TASK_STUCK_AFTER_SECONDS


def state() -> QueueState:
    """
    What /readyz and /metrics say of the queue: due tasks nobody has taken, how long the
    oldest has waited (since it was enqueued, or since its delayed time came), and dead
    deliveries. Two queries.
    """
    now = timezone.now()
    due_since = Case(When(run_after=get_date_max(), then="enqueued_at"), default="run_after")
    due = DBTaskResult.objects.ready().aggregate(count=Count("pk"), since=Min(due_since))
    since = due["since"] or now
    return QueueState(waiting=due["count"], oldest_wait_seconds=max((now - since).total_seconds(), 0.0),
                      dead=Delivery.objects.filter(status=Status.DEAD).count())
