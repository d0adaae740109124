from __future__ import annotations

import pytest
from django.core import mail
from django.core.mail import EmailMultiAlternatives
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django_tasks_db.models import DBTaskResult

from incidents.models import Severity
from incidents.services import comment_add, incident_create, incident_transition, incident_update
from incidents.workflow import Status
from outbound.models import Delivery
from tests.factories import make_incident, make_user

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def site_url(settings):
    settings.SITE_URL = "https://incidents.example.com"


@pytest.fixture
def committed(django_capture_on_commit_callbacks):
    """Run the on-commit callbacks (the mails) as a real commit would."""
    return lambda: django_capture_on_commit_callbacks(execute=True)


def recipients() -> list[list[str]]:
    return sorted(message.to for message in mail.outbox)


def test_assignee_is_mailed_when_assigned(committed, reporter, responder, admin_user):
    incident = make_incident(reporter=reporter, title="Payroll export broken")
    with committed():
        incident_update(incident, actor=admin_user, expected_version=incident.version, assignee=responder)
    [message] = mail.outbox
    assert isinstance(message, EmailMultiAlternatives)
    assert message.to == ["responder@example.com"]
    assert message.subject == f"[Incident #{incident.pk}] Assigned to you"
    assert "Payroll export broken" in message.body
    assert f"https://incidents.example.com/incidents/{incident.pk}/" in message.body
    html, mimetype = message.alternatives[0]
    assert mimetype == "text/html"
    assert f'href="https://incidents.example.com/incidents/{incident.pk}/"' in str(html)


def test_no_mail_when_responder_assigns_themselves(committed, reporter, responder):
    incident = make_incident(reporter=reporter)
    with committed():
        incident_update(incident, actor=responder, expected_version=incident.version, assignee=responder)
    assert mail.outbox == []


def test_unassigning_mails_nobody(committed, reporter, responder, admin_user):
    incident = make_incident(reporter=reporter, assignee=responder)
    with committed():
        incident_update(incident, actor=admin_user, expected_version=incident.version, assignee=None)
    assert mail.outbox == []


def test_reporter_is_mailed_on_each_status_change(committed, reporter, responder):
    incident = make_incident(reporter=reporter)
    with committed():
        incident = incident_transition(incident, actor=responder, name="start")
        incident_transition(incident, actor=responder, name="resolve")
    assert [message.to for message in mail.outbox] == [["reporter@example.com"]] * 2
    assert [message.subject for message in mail.outbox] == [f"[Incident #{incident.pk}] Status changed"] * 2
    assert "to In progress" in mail.outbox[0].body
    assert "to Resolved" in mail.outbox[1].body


def test_reporter_is_mailed_a_public_comment_with_its_text(committed, reporter, responder):
    incident = make_incident(reporter=reporter)
    with committed():
        comment_add(incident, author=responder, body="<p>Rebooted the router &amp; it works.</p><p>Try now.</p>")
    [message] = mail.outbox
    assert message.to == ["reporter@example.com"]
    assert message.subject == f"[Incident #{incident.pk}] New comment"
    assert "Rebooted the router & it works.\n\nTry now." in message.body


def test_internal_note_never_reaches_the_reporter(committed, reporter, responder):
    incident = make_incident(reporter=reporter, assignee=responder)
    with committed():
        comment_add(incident, author=responder, body="Root password is in the vault", internal=True)
    assert mail.outbox == []


def test_reporter_is_not_mailed_their_own_comment(committed, reporter):
    incident = make_incident(reporter=reporter)
    with committed():
        comment_add(incident, author=reporter, body="Still broken")
    assert mail.outbox == []


@pytest.mark.parametrize("severity", [Severity.SEV1, Severity.SEV2])
def test_every_responder_is_mailed_about_a_new_major_incident(committed, reporter, responder, admin_user, severity):
    make_user(username="former", is_staff=True, is_active=False)
    make_user(username="noaddress", is_staff=True, email="")
    make_user(username="bystander")
    with committed():
        incident, _ = incident_create(reporter=reporter, title="Data centre offline", description="Power cut",
                                      severity=severity)
    assert recipients() == [["admin@example.com"], ["responder@example.com"]]
    assert {message.subject for message in mail.outbox} == {f"[Incident #{incident.pk}] New SEV{severity} incident"}
    assert "Data centre offline" not in mail.outbox[0].subject


@pytest.mark.parametrize("severity", [Severity.SEV3, Severity.SEV4])
def test_minor_incident_mails_nobody(committed, reporter, responder, severity):
    with committed():
        incident_create(reporter=reporter, title="Mouse squeaks", description="Annoying", severity=severity)
    assert mail.outbox == []


@pytest.mark.parametrize(("before", "after"), [(Severity.SEV3, Severity.SEV2), (Severity.SEV4, Severity.SEV1),
                                               (Severity.SEV2, Severity.SEV1)])
def test_every_other_responder_is_mailed_when_an_edit_raises_an_incident_to_major(
        committed, reporter, responder, admin_user, before, after):
    make_user(username="former", is_staff=True, is_active=False)
    incident = make_incident(reporter=reporter, title="Badge readers flaky", severity=before)
    with committed():
        incident_update(incident, actor=admin_user, expected_version=incident.version, severity=after)
    assert recipients() == [["responder@example.com"]], "not the one who raised it"
    [message] = mail.outbox
    assert message.subject == f"[Incident #{incident.pk}] Raised to SEV{after}"
    assert "Badge readers flaky" not in message.subject
    assert f"raised this incident from {Severity(before).label} to {Severity(after).label}" in message.body
    assert "it has no responder yet" in message.body


@pytest.mark.parametrize(("before", "after"), [(Severity.SEV1, Severity.SEV2), (Severity.SEV4, Severity.SEV3),
                                               (Severity.SEV2, Severity.SEV3)])
def test_lowering_or_a_minor_change_of_severity_mails_nobody(committed, reporter, responder, admin_user, before, after):
    incident = make_incident(reporter=reporter, severity=before)
    with committed():
        incident_update(incident, actor=admin_user, expected_version=incident.version, severity=after)
    assert mail.outbox == []


def test_raising_an_incident_is_not_mailed_to_who_opted_out(committed, reporter, responder, admin_user):
    responder.notify_major = False
    responder.save()
    incident = make_incident(reporter=reporter, severity=Severity.SEV3)
    with committed():
        incident_update(incident, actor=admin_user, expected_version=incident.version, severity=Severity.SEV1)
    assert mail.outbox == []


def test_responder_reporting_a_major_incident_is_not_mailed_about_it(committed, responder, admin_user):
    with committed():
        incident_create(reporter=responder, title="Core switch down", description="All floors", severity=Severity.SEV1)
    assert recipients() == [["admin@example.com"]]


@pytest.mark.parametrize(
    ("opt_out", "action"),
    [
        ("notify_assigned", lambda incident, users: incident_update(
            incident, actor=users["admin"], expected_version=incident.version, assignee=users["responder"])),
        ("notify_status", lambda incident, users: incident_transition(incident, actor=users["responder"], name="start")),
        ("notify_comments", lambda incident, users: comment_add(incident, author=users["responder"], body="Fixed")),
        ("notify_major", lambda incident, users: incident_create(
            reporter=users["reporter"], title="Outage", description="Everything", severity=Severity.SEV1)),
    ],
)
def test_each_kind_can_be_turned_off(committed, reporter, responder, admin_user, opt_out, action):
    for user in (reporter, responder):
        setattr(user, opt_out, False)
        user.save()
    admin_user.notify_major = False
    admin_user.save()
    incident = make_incident(reporter=reporter)
    with committed():
        action(incident, {"reporter": reporter, "responder": responder, "admin": admin_user})
    assert mail.outbox == []


def test_no_mail_when_the_change_rolls_back(committed, reporter, responder):
    incident = make_incident(reporter=reporter, status=Status.CLOSED)
    with committed(), pytest.raises(Exception):
        incident_transition(incident, actor=responder, name="resolve")
    assert mail.outbox == []


def test_mail_dates_are_in_the_recipients_time_zone(committed, reporter, responder):
    responder.time_zone = "Asia/Tokyo"
    responder.save()
    with committed():
        incident_create(reporter=reporter, title="Outage", description="Everything", severity=Severity.SEV1)
    assert "JST" in mail.outbox[0].body


# A major incident's queries, each kind of query once however many responders are mailed.
MAJOR_MAIL_QUERIES = {"reported": {"sqlite": 42, "postgresql": 43}, "raised": {"sqlite": 38, "postgresql": 39}}


@pytest.mark.parametrize("responders", [3, 12])
def test_a_major_incident_is_queued_for_every_responder_in_queries_that_do_not_grow_with_them(
        database_queue, reporter, admin_user, responders):
    for n in range(responders):
        make_user(username=f"responder{n}", is_staff=True)
    with CaptureQueriesContext(connection) as reported:
        incident_create(reporter=reporter, title="Checkout is down", description="502s", severity=Severity.SEV1)
    incident = make_incident(reporter=reporter, severity=Severity.SEV3)
    with CaptureQueriesContext(connection) as raised:
        incident_update(incident, actor=admin_user, expected_version=incident.version, severity=Severity.SEV2)
    assert len(reported) == MAJOR_MAIL_QUERIES["reported"][connection.vendor]
    assert len(raised) == MAJOR_MAIL_QUERIES["raised"][connection.vendor]
    assert Delivery.objects.filter(event="mail.reported").count() == responders + 1  # The administrator too.
    assert Delivery.objects.filter(event="mail.escalated").count() == responders
    assert DBTaskResult.objects.count() == Delivery.objects.count()
