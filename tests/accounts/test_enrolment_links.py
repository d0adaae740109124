"""
Staff set up a second factor only through a one-time enrolment link: whoever knows a new
or reset staff password must not be the one who decides the account's authenticator.
"""
from __future__ import annotations

import io
import re
from datetime import timedelta

import pytest
import time_machine
from django.core import mail
from django.core.management import CommandError, call_command
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.models import EnrolmentLink
from accounts.services import enrolment_link_issue
from audit.models import Action, AuditLog
from tests.conftest import password_step
from tests.factories import make_totp_device, make_user, totp_code

pytestmark = pytest.mark.django_db

SECURITY = reverse("accounts:security")


def link(token: str) -> str:
    return reverse("accounts:enrol_link", kwargs={"token": token})


def mailed_token() -> str:
    found = re.search(r"/accounts/security/enrol/([\w-]+)/", str(mail.outbox[-1].body))
    assert found, mail.outbox[-1].body
    return found.group(1)


def test_a_staff_password_alone_cannot_enrol_a_device(client, responder):
    password_step(client, "responder")
    response = client.post(reverse("accounts:enrol_start"))
    assert response["Location"] == SECURITY
    assert not TOTPDevice.objects.filter(user=responder).exists()
    page = client.get(SECURITY).content.decode()
    assert "Staff accounts set up two-factor sign-in through a one-time enrolment link" in page
    assert "E-mail me an enrolment link" in page


def test_staff_with_a_device_cannot_replace_it_with_the_password_alone(client, responder):
    make_totp_device(user=responder)
    password_step(client, "responder")
    client.force_login(responder)  # signed in, but no device has verified this session
    client.post(reverse("accounts:enrol_start"))
    assert TOTPDevice.objects.filter(user=responder).count() == 1


def test_verified_staff_may_move_to_a_new_phone(responder, otp_client):
    client = otp_client(responder)
    client.post(reverse("accounts:enrol_start"))
    assert TOTPDevice.objects.filter(user=responder, confirmed=False).exists()


def test_admin_mails_a_link_that_enrols_the_staff_member_once(admin_user, responder, otp_client,
                                                              django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = otp_client(admin_user).post(reverse("admin:accounts_user_changelist"), {
            "action": "send_enrolment_link", "_selected_action": [responder.pk],
        })
    assert response.status_code == 302
    assert mail.outbox[-1].to == ["responder@example.com"]
    token = mailed_token()
    issued = AuditLog.objects.get(action=Action.OTP_ENROLMENT_LINK_ISSUED)
    assert issued.actor == admin_user and issued.target_id == str(responder.pk)
    assert EnrolmentLink.objects.get().token_hash != token, "the table keeps only a hash of the link"

    client = Client()
    assert client.get(link(token))["Location"].startswith(reverse("accounts:login"))
    password_step(client, "responder", next_url=link(token))
    page = client.get(link(token))
    assert page.status_code == 200 and "Set up two-factor sign-in" in page.content.decode()
    assert not TOTPDevice.objects.filter(user=responder).exists(), "opening the link (a mail scanner) uses nothing up"

    assert client.post(link(token))["Location"] == SECURITY
    device = TOTPDevice.objects.get(user=responder, confirmed=False)
    assert "QR code to scan" in client.get(SECURITY).content.decode()
    assert AuditLog.objects.filter(action=Action.OTP_ENROLMENT_LINK_USED, actor_id=responder.pk).count() == 1

    # Someone else who knows the password sees no secret and cannot confirm the device.
    intruder = Client()
    password_step(intruder, "responder")
    assert "QR code to scan" not in intruder.get(SECURITY).content.decode()
    intruder.post(reverse("accounts:enrol_confirm"), {"code": totp_code(device)})
    device.refresh_from_db()
    assert not device.confirmed

    client.post(reverse("accounts:enrol_confirm"), {"code": totp_code(device)})
    device.refresh_from_db()
    assert device.confirmed
    assert client.get(reverse("incidents:list")).status_code == 200

    again = client.post(link(token))
    assert again.status_code == 400
    assert "This enrolment link cannot be used" in again.content.decode()


def test_an_expired_link_or_someone_elses_is_refused(client, responder):
    other = make_user(username="colleague", is_staff=True)
    with time_machine.travel(timezone.now() - timedelta(hours=25)):
        expired = enrolment_link_issue(responder, actor=None)
    theirs = enrolment_link_issue(other, actor=None)
    password_step(client, "responder")
    assert client.post(link(expired)).status_code == 400
    assert client.post(link(theirs)).status_code == 400
    assert client.post(link("made-up-token")).status_code == 400
    assert not TOTPDevice.objects.exists()
    assert not AuditLog.objects.filter(action=Action.OTP_ENROLMENT_LINK_USED).exists()


def test_a_new_link_voids_the_earlier_one(client, responder):
    first = enrolment_link_issue(responder, actor=None)
    second = enrolment_link_issue(responder, actor=None)
    password_step(client, "responder")
    assert client.post(link(first)).status_code == 400
    assert client.post(link(second)).status_code == 302


def test_staff_can_mail_themselves_a_link_a_few_times_an_hour(client, responder, django_capture_on_commit_callbacks):
    password_step(client, "responder")
    for _ in range(3):
        with django_capture_on_commit_callbacks(execute=True):
            client.post(reverse("accounts:enrol_link_request"))
    assert [message.to for message in mail.outbox] == [["responder@example.com"]] * 3
    assert AuditLog.objects.filter(action=Action.OTP_ENROLMENT_LINK_ISSUED, actor_id=responder.pk).count() == 3
    response = client.post(reverse("accounts:enrol_link_request"), follow=True)
    assert "Enrolment links were sent several times this hour" in response.content.decode()
    assert len(mail.outbox) == 3


def test_staff_without_an_address_are_told_to_ask_an_administrator(client):
    make_user(username="nomail", is_staff=True, email="")
    password_step(client, "nomail")
    assert "ask an\n           administrator" in client.get(SECURITY).content.decode()
    response = client.post(reverse("accounts:enrol_link_request"), follow=True)
    assert "Your account has no e-mail address" in response.content.decode()
    assert not EnrolmentLink.objects.exists()


def test_admin_action_names_the_accounts_without_an_address(admin_user, otp_client):
    nomail = make_user(username="nomail", is_staff=True, email="")
    response = otp_client(admin_user).post(reverse("admin:accounts_user_changelist"), {
        "action": "send_enrolment_link", "_selected_action": [nomail.pk],
    }, follow=True)
    assert "No e-mail address, so no link for: nomail" in response.content.decode()
    assert not EnrolmentLink.objects.exists()


def test_reporters_do_not_need_a_link(reporter_client):
    assert reporter_client.post(reverse("accounts:enrol_link_request"))["Location"] == SECURITY
    assert not EnrolmentLink.objects.exists()


def test_the_command_prints_a_link_an_operator_can_hand_over(client, responder):
    out = io.StringIO()
    call_command("enrolment_link", "responder", stdout=out)
    found = re.search(r"/accounts/security/enrol/([\w-]+)/", out.getvalue())
    assert found
    token = found.group(1)
    password_step(client, "responder")
    assert client.post(link(token))["Location"] == SECURITY
    with pytest.raises(CommandError, match="No active user is called “ghost”"):
        call_command("enrolment_link", "ghost")


def test_a_link_works_for_hours_not_a_day(client, responder):
    with time_machine.travel(timezone.now() - timedelta(hours=5)):
        five_hours_old = enrolment_link_issue(responder, actor=None, mail=False)
    password_step(client, "responder")
    assert client.post(link(five_hours_old)).status_code == 400
    assert client.post(link(enrolment_link_issue(responder, actor=None, mail=False))).status_code == 302


def test_using_a_link_mails_the_accounts_owner(client, responder, django_capture_on_commit_callbacks):
    token = enrolment_link_issue(responder, actor=None, mail=False)
    password_step(client, "responder")
    with django_capture_on_commit_callbacks(execute=True):
        assert client.post(link(token)).status_code == 302
    [notice] = mail.outbox
    assert notice.to == [responder.email]
    assert "enrolment link was used" in str(notice.body)
