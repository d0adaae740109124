from __future__ import annotations

import csv
import datetime
import io
import json

import pytest
import time_machine
from django.core.management import call_command
from django.core.management.base import CommandError

from audit.models import Action, AuditLog
from audit.services import audit_record

pytestmark = pytest.mark.django_db

UTC = datetime.timezone.utc


@pytest.fixture
def three_days():
    """One row on each of 1, 2 and 3 March 2026 (noon UTC)."""
    rows = []
    for day in (1, 2, 3):
        with time_machine.travel(datetime.datetime(2026, 3, day, 12, tzinfo=UTC), tick=False):
            rows.append(audit_record(Action.CATEGORY_CHANGED, actor=None, target_label=f"=HYPERLINK(\"x\") day {day}",
                                     changes={"day": [None, day]}))
    return rows


def export(*args: str) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("export_audit", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_jsonl_export_of_a_date_range_is_exact_and_verifiable(three_days):
    out, err = export("--since", "2026-03-02", "--until", "2026-03-04")
    records = [json.loads(line) for line in out.splitlines()]
    assert [record["sequence"] for record in records] == [2, 3]
    stored = AuditLog.objects.get(sequence=2)
    assert records[0] == {**stored.content(), "entry_hash": stored.entry_hash}
    assert "Exported 2 audit rows (rows #2 to #3) as jsonl." in err


def test_export_is_recorded_in_the_log(three_days):
    export("--since", "2026-03-01", "--until", "2026-03-02")
    row = AuditLog.objects.get(action=Action.AUDIT_EXPORTED)
    assert (row.actor, row.target_label) == (None, "Audit log as jsonl")
    assert row.changes["rows"] == 1 and row.changes["sequences"] == [1, 1]
    assert row.changes["since"].startswith("2026-03-01T00:00:00")


def test_csv_export_to_a_file_neutralises_formulas(three_days, tmp_path):
    target = tmp_path / "audit.csv"
    out, _ = export("--since", "2026-03-01", "--until", "2026-03-03T00:00:00+00:00", "--format", "csv",
                    "--output", str(target))
    with target.open(newline="", encoding="utf-8") as stream:
        rows = list(csv.DictReader(stream))
    assert [row["sequence"] for row in rows] == ["1", "2"]
    assert rows[0]["target_label"] == "'=HYPERLINK(\"x\") day 1"
    assert json.loads(rows[0]["changes"]) == {"day": [None, 1]}
    assert rows[0]["actor_id"] == ""
    assert "Exported 2 audit rows" in out


def test_existing_archive_is_never_overwritten(three_days, tmp_path):
    target = tmp_path / "audit.jsonl"
    target.write_text("precious")
    with pytest.raises(CommandError, match="already exists: an archive is never overwritten"):
        export("--since", "2026-03-01", "--until", "2026-03-04", "--output", str(target))
    assert target.read_text() == "precious"
    assert not AuditLog.objects.filter(action=Action.AUDIT_EXPORTED).exists()


def test_unwritable_output_is_refused_clearly(three_days, tmp_path):
    with pytest.raises(CommandError, match="Cannot write .*missing/audit.jsonl"):
        export("--since", "2026-03-01", "--until", "2026-03-04", "--output", str(tmp_path / "missing" / "audit.jsonl"))


def test_empty_range_exports_nothing_and_says_so(three_days):
    out, err = export("--since", "2025-01-01", "--until", "2025-02-01")
    assert out == ""
    assert "Exported 0 audit rows (no rows)" in err


@pytest.mark.parametrize(
    "since, until, message",
    [
        ("yesterday", "2026-03-04", "--since “yesterday” is not a date"),
        ("2026-03-01", "2026-02-30", "--until “2026-02-30” is not a date"),
        ("2026-03-04", "2026-03-01", "--since must be earlier than --until"),
        ("2026-03-01", "2026-03-01", "--since must be earlier than --until"),
    ],
)
def test_bad_dates_are_refused_by_name(since, until, message):
    with pytest.raises(CommandError, match=message):
        export("--since", since, "--until", until)
    assert not AuditLog.objects.exists()


def test_unknown_format_is_refused():
    with pytest.raises(CommandError, match="invalid choice: 'xml'"):
        export("--since", "2026-03-01", "--until", "2026-03-04", "--format", "xml")
