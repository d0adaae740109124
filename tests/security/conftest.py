"""Counts every attack payload the suite sends, by family, and prints the tally after the run."""
from __future__ import annotations

from collections import Counter
from typing import Callable

import pytest

_SENT: Counter[str] = Counter()


@pytest.fixture
def tally() -> Callable[[str, str, int], None]:
    """`tally(suite, family, n)`: record that n payloads of a family went through a suite."""
    def record(suite: str, family: str, count: int) -> None:
        _SENT[f"{suite:<14} {family}"] += count
    return record


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not _SENT:
        return
    terminalreporter.section("attack payloads sent, by family")
    for key, count in sorted(_SENT.items()):
        terminalreporter.write_line(f"{key:<40} {count:>5}")
    terminalreporter.write_line(f"{'total':<40} {sum(_SENT.values()):>5}")
