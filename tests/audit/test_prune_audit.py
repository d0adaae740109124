from __future__ import annotations

import datetime
import io
import json

import pytest
import time_machine
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import DatabaseError, transaction

from audit.models import Action, AuditLog
from audit.services import append_only_suspended, audit_record

from .helpers import remove, run_verify, tamper

pytestmark = pytest.mark.django_db

UTC = datetime.timezone.utc
NOW = datetime.datetime(2026, 6, 1, 12, tzinfo=UTC)


@pytest.fixture
def aged_rows():
    """Rows written 400, 300, 200 and 10 days before NOW."""
    rows = []
    for days in (400, 300, 200, 10):
        with time_machine.travel(NOW - datetime.timedelta(days=days), tick=False):
            rows.append(audit_record(Action.CATEGORY_CHANGED, actor=None, target_label=f"{days} days old"))
    return rows


def prune(archive) -> str:
    """prune_audit given the current head as the latest published checkpoint."""
    out = io.StringIO()
    head = AuditLog.objects.in_chain_order().last()
    assert head is not None
    with time_machine.travel(NOW, tick=False):
        call_command("prune_audit", "--archive", str(archive), "--checkpoint", f"{head.sequence}:{head.entry_hash}",
                     stdout=out)
    return out.getvalue()


def test_prune_archives_old_rows_and_the_chain_still_verifies(settings, aged_rows, tmp_path):
    settings.AUDIT_RETENTION_DAYS = 250
    archive = tmp_path / "audit-archive.jsonl"
    output = prune(archive)
    assert f"Archived and deleted 2 audit rows into {archive}; the chain now starts after 2:{aged_rows[1].entry_hash}" \
        in output
    assert list(AuditLog.objects.in_chain_order().values_list("sequence", flat=True)) == [3, 4, 5]
    records = [json.loads(line) for line in archive.read_text().splitlines()]
    assert [(record["sequence"], record["entry_hash"]) for record in records] == [
        (1, aged_rows[0].entry_hash), (2, aged_rows[1].entry_hash)]
    marker = AuditLog.objects.get(action=Action.AUDIT_PRUNED)
    assert marker.changes["through"] == f"2:{aged_rows[1].entry_hash}" and marker.changes["rows"] == 2
    assert "Verified 3 rows: the audit chain is intact." in run_verify()
    assert "intact" in run_verify("--checkpoint", f"4:{aged_rows[3].entry_hash}")


def test_rows_cut_from_a_pruned_start_without_a_prune_record_are_named(settings, aged_rows, tmp_path):
    settings.AUDIT_RETENTION_DAYS = 250
    prune(tmp_path / "archive.jsonl")
    remove(3)
    with pytest.raises(CommandError, match="Row #1 is missing"):
        run_verify()


def test_prune_record_cannot_be_reworded_to_vouch_for_more(settings, aged_rows, tmp_path):
    settings.AUDIT_RETENTION_DAYS = 250
    prune(tmp_path / "archive.jsonl")
    marker = AuditLog.objects.get(action=Action.AUDIT_PRUNED)
    remove(3)
    tamper(marker.sequence, changes={**marker.changes, "through": f"3:{aged_rows[2].entry_hash}"})
    with pytest.raises(CommandError, match=rf"Row #{marker.sequence} \(id \d+\) was altered"):
        run_verify()


def test_retention_off_by_default_keeps_everything(aged_rows, tmp_path):
    with pytest.raises(CommandError, match="AUDIT_RETENTION_DAYS is 0: audit rows are kept forever"):
        prune(tmp_path / "archive.jsonl")
    assert AuditLog.objects.count() == 4
    assert not (tmp_path / "archive.jsonl").exists()


def test_nothing_old_enough_changes_nothing(settings, aged_rows, tmp_path):
    settings.AUDIT_RETENTION_DAYS = 1000
    assert "No audit rows older than 1000 days: nothing pruned." in prune(tmp_path / "archive.jsonl")
    assert AuditLog.objects.count() == 4


def test_broken_chain_is_not_pruned(settings, aged_rows, tmp_path):
    settings.AUDIT_RETENTION_DAYS = 250
    tamper(1, target_label="rewritten")
    with pytest.raises(CommandError, match=r"Not pruning a broken chain: .*Row #1 \(id \d+\) was altered"):
        prune(tmp_path / "archive.jsonl")
    assert AuditLog.objects.count() == 4


@pytest.mark.parametrize("existing", [True, False])
def test_archive_file_problems_are_refused_and_nothing_is_pruned(settings, aged_rows, tmp_path, existing):
    settings.AUDIT_RETENTION_DAYS = 250
    archive = tmp_path / "archive.jsonl" if existing else tmp_path / "missing" / "archive.jsonl"
    if existing:
        archive.write_text("older archive")
    with pytest.raises(CommandError, match="already exists" if existing else "Cannot write"):
        prune(archive)
    assert AuditLog.objects.count() == 4


@pytest.mark.postgresql
def test_table_is_append_only_again_after_pruning(settings, aged_rows, tmp_path):
    settings.AUDIT_RETENTION_DAYS = 250
    prune(tmp_path / "archive.jsonl")
    with pytest.raises(DatabaseError, match="append-only: DELETE refused"), transaction.atomic():
        AuditLog.objects.all().delete()
    assert AuditLog.objects.count() == 3


def test_a_prune_marker_forged_past_the_published_checkpoint_is_detected(aged_rows):
    """
    The attack: with the table owner's rights, delete history past a checkpoint that was
    published (kept somewhere else), then append a prune marker vouching for the cut, as
    prune_audit writes. The chain itself is consistent again; the checkpoint is not.
    """
    published = f"2:{aged_rows[1].entry_hash}"
    assert "intact" in run_verify("--checkpoint", published)
    with append_only_suspended():
        AuditLog.objects.filter(sequence__lte=3).delete()
    audit_record(Action.AUDIT_PRUNED, actor=None, target_label="Rows #1 to #3 archived",
                 changes={"through": f"3:{aged_rows[2].entry_hash}", "rows": 3, "before": NOW,
                          "checkpoint": published})
    assert "intact" in run_verify(), "without a checkpoint the forged prune looks like a real one"
    with pytest.raises(CommandError, match="Row #2, named by the checkpoint, was pruned"):
        run_verify("--checkpoint", published)


def test_a_prune_stops_at_the_published_checkpoint_and_records_it(settings, aged_rows, tmp_path):
    settings.AUDIT_RETENTION_DAYS = 150
    published = f"2:{aged_rows[1].entry_hash}"
    with time_machine.travel(NOW, tick=False):
        call_command("prune_audit", "--archive", str(tmp_path / "archive.jsonl"), "--checkpoint", published,
                     stdout=io.StringIO())
    marker = AuditLog.objects.get(action=Action.AUDIT_PRUNED)
    assert marker.changes["through"] == published and marker.changes["checkpoint"] == published
    assert list(AuditLog.objects.in_chain_order().values_list("sequence", flat=True)) == [3, 4, 5]
    assert "intact" in run_verify("--checkpoint", published)


def test_a_prune_refuses_a_checkpoint_the_chain_does_not_match(settings, aged_rows, tmp_path):
    settings.AUDIT_RETENTION_DAYS = 150
    with pytest.raises(CommandError, match="differs from the checkpoint"):
        call_command("prune_audit", "--archive", str(tmp_path / "archive.jsonl"), "--checkpoint", f"2:{'0' * 64}")
    assert not AuditLog.objects.filter(action=Action.AUDIT_PRUNED).exists()
