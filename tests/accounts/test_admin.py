from __future__ import annotations

import pytest
from django.core import mail
from django.http import HttpResponse
from django.urls import reverse
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.models import User
from audit.models import Action, AuditLog
from tests.conftest import signed_in
from tests.factories import make_backup_codes, make_totp_device

pytestmark = pytest.mark.django_db


def test_admin_needs_a_verified_second_factor(admin_user):
    make_totp_device(user=admin_user)
    client = signed_in(admin_user)
    assert client.get("/admin/")["Location"] == reverse("accounts:login_code")


def test_admin_is_open_to_verified_staff(admin_client):
    response = admin_client.get("/admin/")
    assert response.status_code == 200
    assert "Incident Tracker administration" in response.content.decode()


def test_admin_login_goes_through_the_product_sign_in(client):
    response = client.get("/admin/")
    assert response.status_code == 302
    response = client.get(response["Location"])
    assert response["Location"] == f"{reverse('accounts:login')}?next=/admin/"


def test_admin_refuses_signed_in_reporters_without_a_loop(reporter_client):
    response = reporter_client.get("/admin/", follow=True)
    assert response.status_code == 403


def test_admin_password_change_goes_to_the_security_page(admin_client):
    assert admin_client.get(reverse("admin:password_change"))["Location"] == reverse("accounts:security")


def test_admin_resets_a_users_second_factor(admin_client, admin_user, reporter, django_capture_on_commit_callbacks):
    make_totp_device(user=reporter)
    changelist = reverse("admin:accounts_user_changelist")
    assert "Two-factor" in admin_client.get(changelist).content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(changelist, {"action": "reset_second_factor", "_selected_action": [reporter.pk]})
    assert response.status_code == 302
    assert not TOTPDevice.objects.filter(user=reporter).exists()
    row = AuditLog.objects.get(action=Action.OTP_REMOVED)
    assert row.actor == admin_user and row.target_id == str(reporter.pk)
    assert row.changes["by_administrator"] is True
    assert mail.outbox[-1].to == ["reporter@example.com"]
    assert "by an administrator" in mail.outbox[-1].body


def test_the_admin_never_shows_anyones_authenticator_secret_or_backup_codes(admin_client, reporter):
    device = make_totp_device(user=reporter)
    backup = make_backup_codes(user=reporter, codes=("kq7wz3ab", "pl9xv2cd"))
    for address in (reverse("admin:otp_totp_totpdevice_changelist"),
                    reverse("admin:otp_totp_totpdevice_change", args=[device.pk]),
                    reverse("admin:accounts_backupcodedevice_changelist"),
                    reverse("admin:accounts_backupcodedevice_change", args=[backup.pk])):
        page = admin_client.get(address)
        assert page.status_code == 200, address
        text = page.content.decode()
        assert device.key not in text and "kq7wz3ab" not in text and "qrcode" not in text.lower(), address
    for page in ("config", "qrcode"):
        assert admin_client.get(f"/admin/otp_totp/totpdevice/{device.pk}/{page}/").status_code in (302, 404)


def test_staff_cannot_plant_an_authenticator_or_backup_codes_through_the_admin(admin_client, reporter):
    """django-otp's stock admins let staff add a confirmed device with a key of their choosing, unaudited."""
    add = admin_client.post("/admin/otp_totp/totpdevice/add/", {
        "user": reporter.pk, "name": "planted", "key": "3132333435363738393031323334353637383930",
        "step": 30, "t0": 0, "digits": 6, "tolerance": 1, "drift": 0, "confirmed": "on",
    })
    assert add.status_code == 403
    assert admin_client.get("/admin/otp_static/staticdevice/").status_code == 404
    assert admin_client.get("/admin/otp_static/staticdevice/add/").status_code == 404
    assert not TOTPDevice.objects.filter(user=reporter).exists()


def listed_users(response: HttpResponse, *users: User) -> set[str]:
    """Which of `users` the changelist shows a row for (a link to their change page)."""
    page = response.content.decode()
    return {user.username for user in users if reverse("admin:accounts_user_change", args=[user.pk]) in page}


@pytest.mark.parametrize("query,expected", [
    ({}, {"admin", "responder", "reporter"}),
    ({"is_staff__exact": "1"}, {"admin", "responder"}),
    ({"is_superuser__exact": "1"}, {"admin"}),
    ({"is_staff__exact": "0"}, {"reporter"}),
    ({"q": "respond"}, {"responder"}),
])
def test_user_changelist_shows_the_users_its_filters_select(admin_client, admin_user, responder, reporter, query, expected):
    response = admin_client.get(reverse("admin:accounts_user_changelist"), query)
    assert response.status_code == 200
    assert listed_users(response, admin_user, responder, reporter) == expected


@pytest.mark.parametrize("query", [
    "password__startswith=argon2", "password__startswith=a", "password__regex=%5Eargon", "password=x",
    "password__contains=%24", "groups__user__password__startswith=a",
])
def test_user_changelist_refuses_any_lookup_on_passwords(admin_client, admin_user, responder, reporter, query):
    """Each answer would tell whether a hash starts so: a password hash read a character at a time."""
    response = admin_client.get(f"{reverse('admin:accounts_user_changelist')}?{query}")
    assert response.status_code == 400
    page = response.content.decode()
    assert listed_users(response, admin_user, responder, reporter) == set()
    assert reporter.password not in page and "argon2" not in page
