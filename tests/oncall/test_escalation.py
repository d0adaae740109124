"""
Escalation end to end on the database queue and a real SMTP server, with time moved by
time_machine: an Alertmanager SEV1 pages the primary, then the secondary, who
acknowledges through the mail's link, and nobody is paged after that. Then the faults:
a bouncing mail, a worker restart during the wait, two workers.
"""
from __future__ import annotations

import re
import threading
from datetime import timedelta

import pytest
import time_machine
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from incidents.models import Incident
from incidents.services import incident_create, incident_transition
from oncall.models import Escalation, EscalationStep, Page
from oncall.services import advance, link_token
from outbound.models import Delivery, Status
from tests.conftest import signed_in_verified
from tests.factories import make_user
from tests.oncall.conftest import alert_sev1, page_until_acknowledged, pages_to, run_queue


def test_a_sev1_alert_pages_the_primary_then_the_secondary_who_acknowledges_by_link(team, task_queue, smtp_sink):
    primary, secondary = team
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        incident = alert_sev1()
    client, link = page_until_acknowledged(incident, start=start, team=team, work_queue=task_queue, sink=smtp_sink)

    page = client.get(incident.get_absolute_url()).content.decode()
    assert re.search(rf"{secondary}</strong>\s+acknowledged it", page)
    assert re.search(rf"{primary}</strong> was paged by mail\s+\(step 1\):\s+delivered\s", page)
    assert re.search(rf"{secondary}</strong> was paged by mail\s+\(step 2\):\s+delivered; acknowledged through", page)
    assert client.post(link).status_code == 410  # Single use.


def test_the_link_asks_for_sign_in_and_refuses_a_forged_or_expired_token(team, database_queue, settings):
    primary, _ = team
    incident, _ = incident_create(reporter=make_user(username="rep"), title="Down", description="All down", severity=1)
    advance(Escalation.objects.get().pk, 0)
    page = Page.objects.get()
    assert page.user == primary
    link = reverse("incidents:acknowledge-link", args=[link_token(page)])
    anonymous = Client().get(link)
    assert anonymous.status_code == 302 and anonymous["Location"].startswith("/accounts/")
    client = signed_in_verified(primary)
    assert client.post(link[:-3] + "xx/").status_code == 410
    settings.ONCALL_LINK_MAX_AGE_SECONDS = 60
    with time_machine.travel(timezone.now() + timedelta(minutes=2)):
        expired = client.post(link)
    assert expired.status_code == 410 and "expired" in expired.content.decode()
    incident.refresh_from_db()
    assert incident.acknowledged_at is None
    reporter = signed_in_verified(make_user(username="someone"))
    assert reporter.post(link).status_code == 403


def test_a_bouncing_page_still_moves_on_at_the_wait(team, task_queue, smtp_sink):
    primary, secondary = team
    smtp_sink.refuse_with = "550"
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        alert_sev1()
        task_queue()
    delivery = Page.objects.get(user=primary).delivery
    assert delivery is not None and delivery.status == Status.PENDING  # Refused, to be retried.
    smtp_sink.refuse_with = ""
    with time_machine.travel(start + timedelta(minutes=5, seconds=1), tick=False):
        task_queue()
    assert pages_to(smtp_sink)[-1] == secondary.email


def test_a_dead_page_moves_on_before_the_wait(team, task_queue, smtp_sink):
    primary, secondary = team
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        alert_sev1()
        task_queue()
    Delivery.objects.filter(pk=Page.objects.values_list("delivery", flat=True).get(user=primary)).update(
        status=Status.DEAD)
    with time_machine.travel(start + timedelta(minutes=1, seconds=1), tick=False):
        task_queue()
    assert pages_to(smtp_sink) == [primary.email, secondary.email]
    page = signed_in_verified(secondary).get(Incident.objects.get().get_absolute_url()).content.decode()
    assert "not reached" in page


def test_a_worker_restart_during_the_wait_skips_and_doubles_nothing(team, task_queue, smtp_sink):
    primary, secondary = team
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        alert_sev1()
        run_queue("worker-before-restart")
    # The worker stops during the wait; a new one starts long after the wait ended.
    with time_machine.travel(start + timedelta(minutes=7), tick=False):
        run_queue("worker-after-restart")
        run_queue("worker-after-restart")
    assert pages_to(smtp_sink) == [primary.email, secondary.email]
    assert Page.objects.count() == 2
    with time_machine.travel(start + timedelta(minutes=13), tick=False):
        run_queue("worker-after-restart")
    escalation = Escalation.objects.get()
    assert escalation.stop_reason == "nobody acknowledged" and Page.objects.count() == 2


def test_a_step_run_twice_pages_once(team, task_queue, smtp_sink):
    primary, _ = team
    alert_sev1()
    escalation = Escalation.objects.get()
    assert not advance(escalation.pk, 0).startswith("skipped")
    assert advance(escalation.pk, 0).startswith("skipped")
    task_queue()  # The queue's own copy of the task, run late.
    assert pages_to(smtp_sink) == [primary.email]


@pytest.mark.postgresql
def test_two_workers_running_the_same_step_at_once_page_once(team, task_queue, smtp_sink):
    primary, _ = team
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        alert_sev1()
        escalation = Escalation.objects.get()
        # Two workers take copies of the same task at once.
        results = []
        threads = [threading.Thread(target=lambda: results.append(advance(escalation.pk, 0))) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        task_queue()
    assert sorted(result.startswith("skipped") for result in results) == [False, True]
    assert pages_to(smtp_sink) == [primary.email]
    assert Page.objects.count() == 1


def test_starting_work_stops_the_paging_and_no_policy_pages_nobody(team, database_queue, responder):
    reporter = make_user(username="rep")
    quiet, _ = incident_create(reporter=reporter, title="Slow", description="A bit slow", severity=3)
    assert not Escalation.objects.filter(incident=quiet).exists()
    loud, _ = incident_create(reporter=reporter, title="Down", description="All down", severity=1)
    incident_transition(loud, actor=responder, name="start")
    escalation = Escalation.objects.get(incident=loud)
    assert escalation.stopped_at is not None and escalation.stop_reason == "start work by " + str(responder)
    assert Incident.objects.get(pk=loud.pk).acknowledged_by == responder


def test_steps_removed_during_the_wait_end_the_round_and_a_policy_emptied_stops_it(team, database_queue):
    primary, secondary = team
    incident_create(reporter=make_user(username="rep"), title="Down", description="All down", severity=1)
    escalation = Escalation.objects.get()
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        advance(escalation.pk, 0)
    EscalationStep.objects.filter(position=1).delete()
    with time_machine.travel(start + timedelta(minutes=6), tick=False):
        advance(escalation.pk, 1)
    escalation.refresh_from_db()
    assert escalation.stop_reason == "nobody acknowledged"  # Repeat 0: the one round is over.
    assert list(Page.objects.values_list("user__username", flat=True)) == ["primary"]

    escalation.policy.repeat = 1
    escalation.policy.save()
    Escalation.objects.filter(pk=escalation.pk).update(stopped_at=None, stop_reason="", step=5, round=0,
                                                       next_at=start)
    EscalationStep.objects.all().delete()
    advance(escalation.pk, escalation.generation)
    escalation.refresh_from_db()
    assert escalation.stop_reason == "the policy has no steps"
