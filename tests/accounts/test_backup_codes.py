"""
Backup codes are kept only as hashes: shown once, never readable from the database,
checked against every remaining code in constant time, and used up exactly once.
"""
from __future__ import annotations

import importlib
import re

import pytest
from django.apps import apps
from django.contrib.auth import SESSION_KEY
from django.db import models
from django.urls import reverse
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken

import accounts.models
from accounts.models import BackupCode, BackupCodeDevice, backup_code_digest
from tests.conftest import password_step
from tests.factories import make_backup_codes, make_totp_device, totp_code

pytestmark = pytest.mark.django_db

CODE = reverse("accounts:login_code")


def every_stored_text() -> str:
    """Every value of every row of every table the project's models know, as one text."""
    parts = []
    for model in apps.get_models():
        fields = [field.attname for field in model._meta.concrete_fields
                  if isinstance(field, (models.CharField, models.TextField, models.JSONField))]
        for row in model._default_manager.values_list(*fields):
            parts.append(repr(row))
    return "\n".join(parts)


def test_no_backup_code_can_be_read_back_from_the_database(reporter_client, reporter):
    reporter_client.post(reverse("accounts:enrol_start"))
    device = reporter.totpdevice_set.get()
    page = reporter_client.post(reverse("accounts:enrol_confirm"), {"code": totp_code(device)}).content.decode()
    codes = re.findall(r"<li><code>([a-z2-7-]{19})</code></li>", page)
    assert len(codes) == 10
    stored = every_stored_text().lower()
    for code in codes:
        assert code not in stored and code.replace("-", "") not in stored
    assert BackupCode.objects.count() == 10


def test_a_backup_code_signs_in_whatever_its_spacing_and_case(client, reporter):
    make_totp_device(user=reporter)
    make_backup_codes(user=reporter, codes=("abcd-efgh-ijkl-mnop",))
    password_step(client, "reporter")
    assert client.post(CODE, {"code": " ABCD EFGH-ijkl mnop "}).status_code == 302
    assert client.session[SESSION_KEY] == str(reporter.pk)
    assert not BackupCode.objects.exists()


def test_every_remaining_code_is_compared_even_after_a_match(reporter, monkeypatch):
    device = make_backup_codes(user=reporter, codes=("first-code", "second-code", "third-code"))
    calls: list[str] = []
    real = accounts.models.constant_time_compare

    def counted(a: str, b: str) -> bool:
        calls.append(a)
        return real(a, b)

    monkeypatch.setattr(accounts.models, "constant_time_compare", counted)
    assert device.verify_token("first-code")
    assert len(calls) == 3


def test_a_code_used_by_a_concurrent_request_meanwhile_is_refused(reporter, monkeypatch):
    """The other request deletes the row between our read and our delete: only one of the two signs in."""
    device = make_backup_codes(user=reporter, codes=("racecode",))
    real = accounts.models.constant_time_compare

    def compare_while_another_request_uses_the_code(a: str, b: str) -> bool:
        BackupCode.objects.filter(code_hash=a).delete()
        return real(a, b)

    monkeypatch.setattr(accounts.models, "constant_time_compare", compare_while_another_request_uses_the_code)
    assert device.verify_token("racecode") is False


def test_plain_codes_of_earlier_releases_are_hashed_by_the_migration_and_still_work(client, reporter):
    make_totp_device(user=reporter)
    static = StaticDevice.objects.create(user=reporter, name="Backup codes", confirmed=True)
    StaticToken.objects.create(device=static, token="oldplain")
    migration = importlib.import_module("accounts.migrations.0006_hashed_backup_codes")
    migration.hash_plain_backup_codes(apps, None)
    assert not StaticToken.objects.exists() and not StaticDevice.objects.exists()
    assert list(BackupCode.objects.values_list("code_hash", flat=True)) == [backup_code_digest("oldplain")]
    assert BackupCodeDevice.objects.get().user == reporter
    password_step(client, "reporter")
    assert client.post(CODE, {"code": "oldplain"}).status_code == 302
