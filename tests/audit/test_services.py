from __future__ import annotations

import datetime
import decimal
import uuid

import pytest
from django.contrib.auth.models import AnonymousUser
from django.db import DatabaseError, connection, transaction

from audit.context import RequestOrigin, current_origin
from audit.models import Action, AuditLog
from audit.services import audit_record
from tests.factories import make_category, make_user

from .helpers import run_verify

pytestmark = pytest.mark.django_db


@pytest.fixture
def origin():
    """Pretend a request from `origin(...)` is being served while the rows are written."""
    tokens = []

    def serve_from(ip_address, user_agent="Mozilla/5.0"):
        tokens.append(current_origin.set(RequestOrigin(ip_address=ip_address, user_agent=user_agent)))

    yield serve_from
    for token in reversed(tokens):
        current_origin.reset(token)


def reloaded(entry: AuditLog) -> AuditLog:
    return AuditLog.objects.get(pk=entry.pk)


def test_row_records_actor_target_changes_and_origin(origin, admin_user):
    origin("203.0.113.7", "Firefox/140")
    category = make_category(name="Network")
    entry = audit_record(Action.CATEGORY_CHANGED, actor=admin_user, target=category, changes={"name": ["Net", "Network"]})
    row = reloaded(entry)
    assert (row.actor, row.actor_username, row.action) == (admin_user, "admin", Action.CATEGORY_CHANGED)
    assert (row.target_type, row.target_id, row.target_label) == ("incidents.category", str(category.pk), "Network")
    assert row.changes == {"name": ["Net", "Network"]}
    assert (row.ip_address, row.user_agent) == ("203.0.113.7", "Firefox/140")
    assert row.compute_hash() == row.entry_hash


def test_awkward_values_hash_the_same_after_a_reload_from_the_database():
    entry = audit_record(
        Action.CATEGORY_CHANGED, actor=None, target_label="naïve ☃ label",
        changes={
            "when": [None, datetime.datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=datetime.timezone.utc)],
            "day": [None, datetime.date(2026, 1, 2)],
            "amount": [decimal.Decimal("1.10"), 1e16],
            "ratio": [0.1, 1.0],
            "token": [None, uuid.UUID("12345678-1234-5678-1234-567812345678")],
            "nested": {"z": 1, "a": [True, None, 2**70]},
            "text": ["nul\x00byte", "lone \ud800 surrogate"],
        },
    )
    row = reloaded(entry)
    assert row.entry_hash == entry.entry_hash == row.compute_hash()
    assert row.changes["amount"] == ["1.10", "1e+16"]
    assert row.changes["text"] == ["nulbyte", "lone ? surrogate"]
    assert "Verified 1 rows" in run_verify()


@pytest.mark.parametrize(
    "sent, stored",
    [
        ("192.0.2.1", "192.0.2.1"),
        (" 192.0.2.1 ", "192.0.2.1"),
        ("2001:DB8:0:0:0:0:0:1", "2001:db8::1"),
        ("::1", "::1"),
        ("::ffff:192.0.2.1", "::ffff:192.0.2.1"),
        ("fe80::1%eth0", "fe80::1"),
        ("not-an-address", None),
        ("999.1.1.1", None),
        ("", None),
        ("1.2.3.4' OR '1'='1", None),
    ],
)
def test_client_address_is_stored_normalised_or_not_at_all(origin, sent, stored):
    origin(sent)
    row = reloaded(audit_record(Action.SIGNED_OUT, actor=None))
    assert row.ip_address == stored
    assert row.compute_hash() == row.entry_hash


def test_ipv6_with_an_embedded_ipv4_address_verifies_after_a_reload(origin):
    """PostgreSQL prints ::1.2.3.4 its own way; the stored hash must still match."""
    for address in ("::1.2.3.4", "::ffff:0:1.2.3.4", "0:0:0:0:0:1:0:1", "::2"):
        origin(address)
        row = reloaded(audit_record(Action.SIGNED_OUT, actor=None))
        assert row.ip_address is not None
        assert row.compute_hash() == row.entry_hash
    assert "Verified 4 rows" in run_verify()


def test_hostile_user_agent_and_label_are_cleaned_and_bounded(origin):
    origin("192.0.2.1", "agent\x00" + "x" * 1000)
    row = reloaded(audit_record(Action.SIGNED_OUT, actor=None, target_label="label\x00" + "y" * 1000))
    assert row.user_agent == ("agent" + "x" * 1000)[:500]
    assert row.target_label == ("label" + "y" * 1000)[:255]
    assert row.compute_hash() == row.entry_hash


def test_row_written_in_a_failed_transaction_disappears_with_it():
    with pytest.raises(RuntimeError), transaction.atomic():
        audit_record(Action.CATEGORY_CREATED, actor=None, target_label="rolled back")
        raise RuntimeError("the change failed")
    assert not AuditLog.objects.exists()


def test_deleting_a_user_keeps_their_rows_and_the_chain_intact(admin_user):
    user = make_user(username="leaver")
    entry = audit_record(Action.SIGNED_IN, actor=user, target=user)
    user_pk = user.pk
    user.delete()
    row = reloaded(entry)
    assert (row.actor_id, row.actor_username) == (user_pk, "leaver")
    assert "Verified 1 rows" in run_verify()


def test_actor_of_a_deleted_user_reads_as_nobody_when_joined():
    user = make_user(username="leaver")
    audit_record(Action.SIGNED_IN, actor=user, target=user)
    user.delete()
    assert AuditLog.objects.select_related("actor").get().actor is None


def test_anonymous_actor_is_the_system():
    row = audit_record(Action.SIGNED_OUT, actor=AnonymousUser())
    assert (row.actor_id, row.actor_username) == (None, "")


@pytest.mark.postgresql
def test_database_rejects_update_of_an_audit_row():
    audit_record(Action.SIGNED_OUT, actor=None, target_label="original")
    with pytest.raises(DatabaseError, match="append-only: UPDATE refused"), transaction.atomic():
        AuditLog.objects.update(target_label="rewritten")
    assert AuditLog.objects.get().target_label == "original"


@pytest.mark.postgresql
def test_database_rejects_delete_of_an_audit_row():
    audit_record(Action.SIGNED_OUT, actor=None)
    with pytest.raises(DatabaseError, match="append-only: DELETE refused"), transaction.atomic():
        AuditLog.objects.all().delete()
    assert AuditLog.objects.count() == 1


@pytest.mark.postgresql
def test_database_rejects_raw_sql_rewrites_too():
    audit_record(Action.SIGNED_OUT, actor=None)
    for statement in ("UPDATE audit_auditlog SET actor_username = 'x'", "DELETE FROM audit_auditlog"):
        with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(statement)
    assert AuditLog.objects.get().actor_username == ""


@pytest.mark.postgresql
def test_database_rejects_truncate_of_the_audit_table():
    audit_record(Action.SIGNED_OUT, actor=None)
    with pytest.raises(DatabaseError, match="append-only: TRUNCATE refused"), transaction.atomic(), \
            connection.cursor() as cursor:
        # The test database allows TRUNCATE so that tests can empty it (tests/conftest.py); production does not.
        cursor.execute("SET LOCAL audit.truncate_allowed = 'off'")
        cursor.execute("TRUNCATE audit_auditlog")
    assert AuditLog.objects.count() == 1


def test_two_rows_can_never_claim_the_same_predecessor():
    first = audit_record(Action.SIGNED_OUT, actor=None)
    fork = AuditLog(sequence=2, created_at=first.created_at, action=Action.SIGNED_OUT, previous_hash=first.previous_hash)
    fork.entry_hash = fork.compute_hash()
    with pytest.raises(DatabaseError), transaction.atomic():
        fork.save(force_insert=True)


def test_the_channel_is_recorded_and_hashed_only_when_set():
    plain = audit_record(Action.SIGNED_OUT, actor=None)
    assert plain.via == "" and "via" not in plain.content()
    token = current_origin.set(RequestOrigin(ip_address="203.0.113.7", via="API token “nightly”"))
    try:
        row = reloaded(audit_record(Action.SIGNED_OUT, actor=None))
    finally:
        current_origin.reset(token)
    assert row.via == "API token “nightly”" and row.content()["via"] == row.via
    assert row.entry_hash == row.compute_hash()
    row.via = "API token “other”"
    assert row.compute_hash() != row.entry_hash
