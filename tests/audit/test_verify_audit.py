from __future__ import annotations

import datetime

import pytest
from django.core.management.base import CommandError

from audit.models import GENESIS_HASH, AuditLog
from audit.services import append_only_suspended

from .helpers import remove, run_verify, tamper, write_rows

pytestmark = pytest.mark.django_db


def test_intact_chain_passes_and_prints_the_head_as_checkpoint():
    rows = write_rows(5)
    output = run_verify()
    assert "Verified 5 rows: the audit chain is intact." in output
    assert f"Head: row #5, hash {rows[-1].entry_hash}" in output
    assert f"Checkpoint: 5:{rows[-1].entry_hash}" in output


def test_the_checkpoint_is_logged_so_that_a_log_shipped_elsewhere_keeps_it(caplog):
    rows = write_rows(3)
    with caplog.at_level("INFO", logger="audit.checkpoint"):
        run_verify()
    published = [record for record in caplog.records if record.name == "audit.checkpoint"]
    assert [record.getMessage() for record in published] == [f"Audit checkpoint 3:{rows[-1].entry_hash} (3 rows verified)"]
    assert published[0].checkpoint == f"3:{rows[-1].entry_hash}"


def test_a_broken_chain_logs_an_error_naming_the_row(caplog):
    rows = write_rows(3)
    tamper(2, target_label="rewritten")
    with caplog.at_level("INFO", logger="audit.checkpoint"), pytest.raises(CommandError):
        run_verify()
    assert [(record.levelname, record.getMessage()) for record in caplog.records if record.name == "audit.checkpoint"] == [
        ("ERROR", "Audit chain broken at row #2: Row #2 (id %s) was altered: its content no longer matches its hash."
         % rows[1].pk)]


def test_empty_log_passes():
    assert "The audit log is empty" in run_verify()


def test_first_row_follows_the_genesis_hash():
    first, second = write_rows(2)
    assert first.previous_hash == GENESIS_HASH
    assert second.previous_hash == first.entry_hash


@pytest.mark.parametrize(
    "field, value",
    [
        ("created_at", datetime.datetime(2020, 1, 1, tzinfo=datetime.timezone.utc)),
        ("actor_id", 999),
        ("actor_username", "mallory"),
        ("action", "category.deleted"),
        ("target_type", "incidents.incident"),
        ("target_id", "77"),
        ("target_label", "row X"),
        ("changes", {"n": [0, 0]}),
        ("ip_address", "10.9.9.9"),
        ("user_agent", "curl/8"),
        ("previous_hash", "f" * 64),
        ("entry_hash", "e" * 64),
    ],
)
def test_altering_any_field_of_a_row_is_named(field, value):
    write_rows(5)
    tamper(3, **{field: value})
    with pytest.raises(CommandError, match=r"Row #3 \(id \d+\) was altered"):
        run_verify()


def test_renumbering_a_row_is_named_as_missing():
    write_rows(5)
    tamper(3, sequence=30)
    with pytest.raises(CommandError, match="Row #3 is missing: the chain goes from #2 to #4"):
        run_verify()


def test_deleting_a_row_is_named():
    write_rows(5)
    remove(3)
    with pytest.raises(CommandError, match=r"Row #3 is missing: the chain goes from #2 to #4 \(rows deleted\)"):
        run_verify()


def test_deleting_the_first_row_is_named():
    write_rows(3)
    remove(1)
    with pytest.raises(CommandError, match="Row #1 is missing: the chain goes from its start to #2"):
        run_verify()


def _swap_sequences(a: int, b: int) -> None:
    with append_only_suspended():
        AuditLog.objects.filter(sequence=a).update(sequence=0)
        AuditLog.objects.filter(sequence=b).update(sequence=a)
        AuditLog.objects.filter(sequence=0).update(sequence=b)


def test_swapping_two_rows_is_named():
    write_rows(5)
    _swap_sequences(2, 3)
    with pytest.raises(CommandError, match=r"Row #2 \(id \d+\) was altered"):
        run_verify()


def test_swapping_two_rows_and_rehashing_them_is_still_named():
    write_rows(5)
    _swap_sequences(2, 3)
    with append_only_suspended():
        for row in AuditLog.objects.filter(sequence__in=[2, 3]):
            AuditLog.objects.filter(pk=row.pk).update(entry_hash=row.compute_hash())
    with pytest.raises(CommandError, match=r"Row #2 \(id \d+\) does not follow row #1"):
        run_verify()


def test_a_row_forged_at_the_head_is_named():
    write_rows(3)
    forged = AuditLog(sequence=4, created_at=AuditLog.objects.get(sequence=3).created_at, action="user.deleted",
                      target_label="evidence", previous_hash="a" * 64)
    forged.entry_hash = forged.compute_hash()
    forged.save(force_insert=True)
    with pytest.raises(CommandError, match=r"Row #4 \(id \d+\) does not follow row #3"):
        run_verify()


def test_checkpoint_catches_rows_cut_from_the_end():
    rows = write_rows(5)
    checkpoint = f"5:{rows[-1].entry_hash}"
    assert "intact" in run_verify("--checkpoint", checkpoint)
    remove(5)
    remove(4)
    assert "Verified 3 rows" in run_verify()
    with pytest.raises(CommandError, match="The chain ends at #3 but the checkpoint names row #5: rows were cut"):
        run_verify("--checkpoint", checkpoint)


def test_checkpoint_catches_a_history_rewritten_and_rehashed_from_scratch():
    rows = write_rows(4)
    checkpoint = f"3:{rows[2].entry_hash}"
    with append_only_suspended():
        previous_hash = GENESIS_HASH
        for row in AuditLog.objects.in_chain_order():
            row.target_label = "rewritten"
            row.previous_hash = previous_hash
            row.entry_hash = previous_hash = row.compute_hash()
            row.save()
    assert "intact" in run_verify()
    with pytest.raises(CommandError, match=r"Row #3 \(id \d+\) differs from the checkpoint"):
        run_verify("--checkpoint", checkpoint)


def test_checkpoint_of_an_emptied_log_fails():
    rows = write_rows(1)
    remove(1)
    with pytest.raises(CommandError, match="The chain ends at nothing but the checkpoint names row #1"):
        run_verify("--checkpoint", f"1:{rows[0].entry_hash}")


@pytest.mark.parametrize("checkpoint", ["", "5", "five:abc", "0:" + "a" * 64, "5:" + "g" * 64, "5:abc"])
def test_malformed_checkpoint_is_refused_with_the_expected_format(checkpoint):
    write_rows(1)
    with pytest.raises(CommandError, match="is not a checkpoint: expected SEQUENCE:HASH"):
        run_verify("--checkpoint", checkpoint)


def test_chunk_size_must_be_positive():
    with pytest.raises(CommandError, match="--chunk-size must be a positive number"):
        run_verify("--chunk-size", "0")


def test_small_chunks_walk_the_whole_chain():
    write_rows(7)
    assert "Verified 7 rows" in run_verify("--chunk-size", "2")
