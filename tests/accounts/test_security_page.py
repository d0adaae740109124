from __future__ import annotations

import re
from datetime import timedelta

import pytest
import time_machine
from django.core import mail
from django.urls import reverse
from django.utils import timezone
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.models import BackupCode, backup_code_digest
from accounts.services import enrolment_link_issue
from audit.models import Action, AuditLog
from tests.factories import DEFAULT_PASSWORD, make_backup_codes, make_totp_device, totp_code

pytestmark = pytest.mark.django_db

SECURITY = reverse("accounts:security")


def test_enrolment_shows_a_local_qr_code_and_the_secret_then_confirms_with_a_code(
        reporter_client, reporter, django_capture_on_commit_callbacks):
    assert reporter_client.get(SECURITY).status_code == 200
    assert not TOTPDevice.objects.exists(), "looking at the page changes nothing"
    assert reporter_client.post(reverse("accounts:enrol_start"))["Location"] == SECURITY
    device = TOTPDevice.objects.get(user=reporter, confirmed=False)

    page = reporter_client.get(SECURITY).content.decode()
    assert '<svg width="' in page and "QR code to scan" in page
    assert "http" not in page.split('<div class="qr-code">')[1].split("</div>")[0], "no third-party image"
    secret = re.search(r'<code class="secret">([A-Z2-7 ]+)</code>', page)
    assert secret and len(secret.group(1).replace(" ", "")) == 32

    before = reporter_client.session.session_key
    with django_capture_on_commit_callbacks(execute=True):
        response = reporter_client.post(reverse("accounts:enrol_confirm"), {"code": totp_code(device)})
    assert response.status_code == 200
    page = response.content.decode()
    codes = re.findall(r"<li><code>([a-z2-7]{4}-[a-z2-7]{4}-[a-z2-7]{4}-[a-z2-7]{4})</code></li>", page)
    assert len(codes) == 10 and len(set(codes)) == 10
    assert "no-store" in response["Cache-Control"]
    device.refresh_from_db()
    assert device.confirmed
    assert reporter_client.session[DEVICE_ID_SESSION_KEY] == device.persistent_id
    assert reporter_client.session.session_key != before
    assert AuditLog.objects.filter(action=Action.OTP_ENROLLED, target_id=str(reporter.pk)).count() == 1
    assert mail.outbox[0].to == ["reporter@example.com"]
    assert "Two-factor sign-in was turned on" in mail.outbox[0].body

    again = reporter_client.get(SECURITY).content.decode()
    assert not any(code in again for code in codes), "backup codes are shown once"
    assert "10 unused backup" in again


def test_wrong_enrolment_code_leaves_the_device_unconfirmed(reporter_client, reporter):
    reporter_client.post(reverse("accounts:enrol_start"))
    response = reporter_client.post(reverse("accounts:enrol_confirm"), {"code": "12345"})
    assert response.status_code == 400
    assert "That code does not match the app" in response.content.decode()
    assert not TOTPDevice.objects.filter(confirmed=True).exists()
    assert AuditLog.objects.filter(action=Action.OTP_FAILED).count() == 1


def test_confirm_without_a_started_enrolment_does_nothing(reporter_client):
    assert reporter_client.post(reverse("accounts:enrol_confirm"), {"code": "123456"})["Location"] == SECURITY
    assert not TOTPDevice.objects.exists()


def test_enrolment_pages_refuse_get_for_actions(reporter_client):
    for name in ("enrol_start", "enrol_confirm", "backup_codes", "otp_remove", "password_change"):
        assert reporter_client.get(reverse(f"accounts:{name}")).status_code == 405


def test_staff_enrol_through_a_link_then_reach_the_site(client, responder):
    client.force_login(responder)
    token = enrolment_link_issue(responder, actor=None)
    client.post(reverse("accounts:enrol_link", kwargs={"token": token}))
    device = TOTPDevice.objects.get(user=responder)
    client.post(reverse("accounts:enrol_confirm"), {"code": totp_code(device)})
    assert client.get(reverse("incidents:list")).status_code == 200


def test_regenerating_backup_codes_needs_password_and_code(reporter, otp_client, django_capture_on_commit_callbacks):
    client = otp_client(reporter)
    device = TOTPDevice.objects.get(user=reporter)
    make_backup_codes(user=reporter, codes=("oldcode1",))
    url = reverse("accounts:backup_codes")

    response = client.post(url, {"password": "wrong-password-123", "code": totp_code(device)})
    assert response.status_code == 400
    assert "That is not your current password." in response.content.decode()
    response = client.post(url, {"password": DEFAULT_PASSWORD, "code": "oldcode2"})
    assert response.status_code == 400
    assert list(BackupCode.objects.values_list("code_hash", flat=True)) == [backup_code_digest("oldcode1")]

    # After the wrong code the device waits a second before it checks another.
    with time_machine.travel(timezone.now() + timedelta(seconds=5)), django_capture_on_commit_callbacks(execute=True):
        response = client.post(url, {"password": DEFAULT_PASSWORD, "code": "oldcode1"})
    assert response.status_code == 200
    assert BackupCode.objects.count() == 10
    assert not BackupCode.objects.filter(code_hash=backup_code_digest("oldcode1")).exists()
    assert AuditLog.objects.filter(action=Action.OTP_BACKUP_CODES_REGENERATED).count() == 1
    assert "New backup codes were generated" in mail.outbox[-1].body


def test_removing_the_second_factor_needs_password_and_code(reporter, otp_client, django_capture_on_commit_callbacks):
    client = otp_client(reporter)
    device = TOTPDevice.objects.get(user=reporter)
    url = reverse("accounts:otp_remove")
    assert client.post(url, {"password": DEFAULT_PASSWORD}).status_code == 400
    assert TOTPDevice.objects.exists()
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(url, {"password": DEFAULT_PASSWORD, "code": totp_code(device)})
    assert response["Location"] == SECURITY
    assert not TOTPDevice.objects.exists()
    removal = AuditLog.objects.get(action=Action.OTP_REMOVED)
    assert removal.changes == {"devices": ["Authenticator app"], "by_administrator": False}
    assert "Two-factor sign-in was turned off." in mail.outbox[-1].body


def test_password_change_needs_the_current_password_and_keeps_this_session(
        reporter, reporter_client, django_capture_on_commit_callbacks):
    url = reverse("accounts:password_change")
    new = "a-much-longer-passphrase-77"
    response = reporter_client.post(url, {"old_password": "nope", "new_password1": new, "new_password2": new})
    assert response.status_code == 400
    assert "Your old password was entered incorrectly" in response.content.decode()
    response = reporter_client.post(url, {"old_password": DEFAULT_PASSWORD, "new_password1": "short",
                                          "new_password2": "short"})
    assert "at least 12 characters" in response.content.decode()

    with django_capture_on_commit_callbacks(execute=True):
        response = reporter_client.post(url, {"old_password": DEFAULT_PASSWORD, "new_password1": new,
                                              "new_password2": new})
    assert response["Location"] == SECURITY
    reporter.refresh_from_db()
    assert reporter.check_password(new)
    assert reporter_client.get(reverse("dashboard")).status_code == 200
    assert AuditLog.objects.filter(action=Action.PASSWORD_CHANGED, target_id=str(reporter.pk)).count() == 1
    assert "Your password was changed." in mail.outbox[-1].body


def reset_link() -> str:
    match = re.search(r"https?://[^/]+(/accounts/password-reset/\S+/)", str(mail.outbox[0].body))
    assert match, mail.outbox[0].body
    return match.group(1)


def test_password_reset_by_email(client, reporter, django_capture_on_commit_callbacks):
    response = client.post(reverse("accounts:password_reset"), {"email": "reporter@example.com"})
    assert response["Location"] == reverse("accounts:password_reset_done")
    assert "Check your e-mail" in client.get(response["Location"]).content.decode()
    link = reset_link()
    form_url = client.get(link)["Location"]
    new = "a-much-longer-passphrase-77"
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(form_url, {"new_password1": new, "new_password2": new})
    assert response["Location"] == reverse("accounts:password_reset_complete")
    reporter.refresh_from_db()
    assert reporter.check_password(new)
    assert AuditLog.objects.filter(action=Action.PASSWORD_RESET).count() == 1
    assert "reset through the link" in mail.outbox[-1].body
    assert "This link no longer works" in client.get(link, follow=True).content.decode()


def test_password_reset_does_not_skip_the_second_factor(client, reporter):
    make_totp_device(user=reporter)
    client.post(reverse("accounts:password_reset"), {"email": "reporter@example.com"})
    link = reset_link()
    new = "a-much-longer-passphrase-77"
    client.post(client.get(link)["Location"], {"new_password1": new, "new_password2": new})
    response = client.post(reverse("accounts:login"), {"username": "reporter", "password": new})
    assert response["Location"] == reverse("accounts:login_code")


def test_turning_on_two_factor_ends_every_other_session(reporter_client, reporter):
    """A session someone opened with the password alone must not outlive the second factor."""
    from tests.conftest import signed_in

    other = signed_in(reporter)
    assert other.get(reverse("incidents:list")).status_code == 200
    reporter_client.post(reverse("accounts:enrol_start"))
    device = TOTPDevice.objects.get(user=reporter, confirmed=False)
    assert reporter_client.post(reverse("accounts:enrol_confirm"), {"code": totp_code(device)}).status_code == 200
    assert reporter_client.get(reverse("incidents:list")).status_code == 200, "this session stays signed in"
    assert other.get(reverse("incidents:list"))["Location"].startswith(reverse("accounts:login"))
