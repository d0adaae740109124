"""
Proof that the audit chain is whole. Walking the rows in sequence order, each row
must carry the next sequence number, hash to its stored hash, and name the previous
row's hash as its predecessor; the first row that does not is reported. A checkpoint
(the head printed by an earlier run, kept somewhere else) also proves that nothing
was cut from the end, that the history up to it was not rewritten wholesale, and that
no prune went past it (prune_audit stops at the checkpoint it is given).
"""
from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from .models import GENESIS_HASH, Action, AuditLog

CHECKPOINT_FORMAT = re.compile(r"^(?P<sequence>[1-9][0-9]{0,18}):(?P<entry_hash>[0-9a-f]{64})$")


@dataclass(frozen=True)
class Checkpoint:
    sequence: int
    entry_hash: str

    @classmethod
    def parse(cls, text: str) -> Checkpoint:
        match = CHECKPOINT_FORMAT.match(text.strip().lower())
        if match is None:
            raise ValueError(
                f"“{text}” is not a checkpoint: expected SEQUENCE:HASH as printed by verify_audit, "
                "for example 42:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08."
            )
        return cls(int(match["sequence"]), match["entry_hash"])

    def __str__(self) -> str:
        return f"{self.sequence}:{self.entry_hash}"


@dataclass(frozen=True)
class ChainReport:
    rows: int
    head: Checkpoint | None


class ChainBroken(Exception):
    """The first place where the chain is not what was written; `sequence` names the row."""

    def __init__(self, sequence: int, message: str) -> None:
        super().__init__(message)
        self.sequence = sequence


def _check_row(row: AuditLog, previous: Checkpoint | None) -> None:
    expected_sequence = previous.sequence + 1 if previous else 1
    if row.sequence != expected_sequence:
        raise ChainBroken(
            expected_sequence,
            f"Row #{expected_sequence} is missing: the chain goes from "
            f"{f'#{previous.sequence}' if previous else 'its start'} to #{row.sequence} (rows deleted).",
        )
    if row.compute_hash() != row.entry_hash:
        raise ChainBroken(
            row.sequence, f"Row #{row.sequence} (id {row.pk}) was altered: its content no longer matches its hash."
        )
    expected_previous = previous.entry_hash if previous else GENESIS_HASH
    if row.previous_hash != expected_previous:
        raise ChainBroken(
            row.sequence,
            f"Row #{row.sequence} (id {row.pk}) does not follow row #{expected_sequence - 1}: "
            "a row was inserted, reordered or rewritten here.",
        )


def verify_chain(
    rows: Iterable[AuditLog], *, start: Checkpoint | None = None, checkpoint: Checkpoint | None = None
) -> ChainReport:
    """
    Check `rows`, which must come in sequence order and follow `start` (the last
    pruned row; None for an unpruned chain), and return how many there were and the
    head. Raises ChainBroken at the first row that is wrong.
    """
    if checkpoint is not None and start is not None:
        _check_start(start, checkpoint)
    previous = start
    count = 0
    for row in rows:
        _check_row(row, previous)
        if checkpoint is not None and row.sequence == checkpoint.sequence and row.entry_hash != checkpoint.entry_hash:
            raise ChainBroken(
                row.sequence,
                f"Row #{row.sequence} (id {row.pk}) differs from the checkpoint: the history up to it was rewritten.",
            )
        previous = Checkpoint(row.sequence, row.entry_hash)
        count += 1
    head = previous if count else None
    if checkpoint is not None and (head is None or head.sequence < checkpoint.sequence):
        last = f"#{head.sequence}" if head else "nothing"
        raise ChainBroken(
            checkpoint.sequence,
            f"The chain ends at {last} but the checkpoint names row #{checkpoint.sequence}: rows were cut from the end.",
        )
    return ChainReport(rows=count, head=head)


def _check_start(start: Checkpoint, checkpoint: Checkpoint) -> None:
    """
    A prune may not pass the latest published checkpoint (prune_audit stops at it), so
    the row a checkpoint names is either still stored or is exactly where the chain now
    starts. Otherwise someone who could delete rows went past it and wrote a prune
    marker to vouch for the cut.
    """
    if start.sequence > checkpoint.sequence:
        raise ChainBroken(
            checkpoint.sequence,
            f"Row #{checkpoint.sequence}, named by the checkpoint, was pruned: the chain now starts after "
            f"#{start.sequence}, but a prune stops at the latest published checkpoint. History past it was "
            "deleted; compare with the archives, or verify against the checkpoint that prune was given.",
        )
    if start.sequence == checkpoint.sequence and start.entry_hash != checkpoint.entry_hash:
        raise ChainBroken(
            checkpoint.sequence,
            f"The chain starts after row #{start.sequence}, whose hash differs from the checkpoint: "
            "the history up to it was rewritten.",
        )


def pruned_start(first: AuditLog | None) -> Checkpoint | None:
    """
    Where the stored chain legitimately starts when its first row is not #1: right
    after the rows an AUDIT_PRUNED row (itself part of the chain) says it archived.
    """
    if first is None or first.sequence == 1:
        return None
    through = Checkpoint(first.sequence - 1, first.previous_hash)
    vouched = AuditLog.objects.filter(action=Action.AUDIT_PRUNED, changes__through=str(through)).exists()
    return through if vouched else None


def verify_stored_chain(*, checkpoint: Checkpoint | None = None, chunk_size: int = 2000) -> ChainReport:
    """The whole audit table, streamed `chunk_size` rows at a time."""
    rows = AuditLog.objects.in_chain_order()
    return verify_chain(rows.iterator(chunk_size=chunk_size), start=pruned_start(rows.first()), checkpoint=checkpoint)
