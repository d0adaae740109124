"""Mail goes through the queue: the request never talks to the mail server, and no mail is lost or sent twice."""
from __future__ import annotations

import time
from datetime import timedelta

import pytest
import time_machine
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from incidents.models import Incident, Severity
from incidents.services import incident_update
from outbound.models import Delivery, Status
from outbound.services import Mail, mail_enqueue, mails_enqueue
from tests.conftest import signed_in
from tests.factories import make_incident, make_user
from tests.incidents.test_lock_order import in_own_connection


def _report_sev1(reporter_client) -> float:
    started = time.monotonic()
    response = reporter_client.post(reverse("incidents:create"), {
        "title": "Checkout is down", "description": "Every payment fails with a 502.", "severity": 1,
        "submission_token": "0f0b8a4e-59a2-4a4e-9d7c-8c1a54c0e8d1"})
    assert response.status_code == 302
    return time.monotonic() - started


def _responders(count: int) -> list[str]:
    return [make_user(username=f"responder{n}", email=f"responder{n}@example.com", is_staff=True).email
            for n in range(count)]


def test_a_sev1_report_answers_at_once_while_the_mail_server_hangs_and_every_mail_arrives_once_it_answers(
        task_queue, hanging_mail_server, smtp_sink, settings, reporter):
    settings.EMAIL_PORT = hanging_mail_server
    addresses = _responders(3)
    elapsed = _report_sev1(signed_in(reporter))
    assert elapsed < 1.0
    assert Incident.objects.filter(title="Checkout is down").exists()
    assert Delivery.objects.filter(status=Status.PENDING, channel="mail").count() == 3

    task_queue()  # Each try waits out the mail server's silence and is put off.
    pending = list(Delivery.objects.filter(channel="mail"))
    assert {delivery.status for delivery in pending} == {Status.PENDING}
    assert all("timed out" in delivery.last_error for delivery in pending)
    assert smtp_sink.messages == []

    settings.EMAIL_PORT = smtp_sink.port  # The mail server answers again.
    latest_retry = max(delivery.next_attempt_at for delivery in pending)
    with time_machine.travel(latest_retry + timedelta(seconds=1)):
        task_queue()
        task_queue()  # A second pass (a second worker, a task run twice) sends nothing more.
    assert smtp_sink.recipients() == sorted(addresses)
    assert set(Delivery.objects.values_list("status", flat=True)) == {Status.DELIVERED}


def test_mail_for_a_change_that_rolls_back_is_never_queued(task_queue, reporter, responder, monkeypatch):
    def fail(*args, **kwargs):
        raise RuntimeError("the audit row could not be written")

    monkeypatch.setattr("incidents.services.audit_record", fail)
    client = signed_in(reporter)
    try:
        _report_sev1(client)
    except RuntimeError:
        pass
    assert not Incident.objects.exists()
    assert not Delivery.objects.exists()


@pytest.mark.parametrize(("refusal", "error"), [
    ("connection refused", "ConnectionRefusedError"), ("451", "451 Mailbox unavailable"),
    ("550", "550 Mailbox unavailable")])
def test_a_refused_mail_is_retried_then_dead_in_the_admin_and_retry_now_sends_it(
        refusal, error, task_queue, smtp_sink, settings, reporter, responder, unused_port, otp_client, admin_user):
    if refusal == "connection refused":
        settings.EMAIL_PORT = unused_port
    else:
        smtp_sink.refuse_with = refusal
    _report_sev1(signed_in(reporter))
    delivery = Delivery.objects.get(target=responder.email)
    moment = timezone.now()
    for _ in range(10):
        with time_machine.travel(moment):
            task_queue()
        delivery.refresh_from_db()
        moment = delivery.next_attempt_at + timedelta(seconds=1)
    assert delivery.status == Status.DEAD
    assert delivery.attempts == 10
    assert error in delivery.last_error
    assert delivery.attempt_log.count() == 10

    admin = otp_client(admin_user)
    page = admin.get(reverse("admin:outbound_delivery_changelist") + "?status__exact=dead")
    assert page.status_code == 200
    assert responder.email in page.content.decode()
    assert error in page.content.decode()

    smtp_sink.refuse_with = ""
    settings.EMAIL_PORT = smtp_sink.port
    response = admin.post(reverse("admin:outbound_delivery_changelist"),
                          {"action": "retry_now", "_selected_action": [delivery.pk]})
    assert response.status_code == 302
    task_queue()
    delivery.refresh_from_db()
    assert delivery.status == Status.DELIVERED
    assert [message["To"] for message in smtp_sink.messages] == [responder.email]


def test_every_responder_gets_one_mail_when_an_edit_raises_an_incident_to_major(
        task_queue, smtp_sink, reporter, admin_user):
    addresses = _responders(12)
    incident = make_incident(reporter=reporter, title="Checkout is slow", severity=Severity.SEV3)
    incident_update(incident, actor=admin_user, expected_version=incident.version, severity=Severity.SEV2)
    task_queue()
    task_queue()  # A second pass (a second worker, a task run twice) sends nothing more.
    assert smtp_sink.recipients() == sorted(addresses)
    assert DBTaskResult.objects.count() == 12


def _mail(key: str) -> Mail:
    return Mail(key=key, event="test", to=f"{key}@example.com", subject="s", text="t")


def test_queuing_the_same_mails_again_queues_nothing(database_queue, db):
    first = mails_enqueue([_mail("a"), _mail("b"), _mail("c")])
    assert mails_enqueue([_mail("a"), _mail("b"), _mail("c")]) == []
    assert mail_enqueue(key="a", event="test", to="a@example.com", subject="s", text="t") is None
    assert sorted(Delivery.objects.values_list("pk", flat=True)) == sorted(delivery.pk for delivery in first)
    assert sorted(DBTaskResult.objects.values_list("args_kwargs__args__0", flat=True)) == sorted(
        delivery.pk for delivery in first)


def test_a_batch_whose_keys_are_partly_queued_queues_only_the_others(database_queue, db):
    [b] = mails_enqueue([_mail("b")])
    queued = mails_enqueue([_mail("a"), _mail("b"), _mail("c")])
    assert [delivery.key for delivery in queued] == ["a", "c"]
    assert Delivery.objects.get(key="b").message_id == b.message_id
    assert {delivery.pk for delivery in queued} == set(Delivery.objects.exclude(key="b").values_list("pk", flat=True))
    assert DBTaskResult.objects.count() == 3


@pytest.mark.postgresql
@pytest.mark.django_db(transaction=True)
def test_two_transactions_queuing_the_same_mail_at_once_queue_it_once_without_an_error(database_queue):
    second: list[Delivery] = []
    errors: list[Exception] = []
    with transaction.atomic():
        first = mails_enqueue([_mail("a")])
        other = in_own_connection(lambda: second.extend(mails_enqueue([_mail("a"), _mail("b")])), errors)
        time.sleep(0.5)  # The other insert waits for this transaction to end, then skips "a".
    other.join(10)
    assert errors == []
    assert [delivery.key for delivery in first] == ["a"]
    assert [delivery.key for delivery in second] == ["b"]
    assert DBTaskResult.objects.count() == Delivery.objects.count() == 2
