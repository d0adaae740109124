"""
Label matchers written as Alertmanager writes them (`name="value"`, `!=`, `=~`, `!~`,
regular expressions anchored at both ends), one per line: an integration's drop list.
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

MATCHER = re.compile(r'^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"\s*$')


@dataclass(frozen=True)
class Matcher:
    name: str
    operator: str
    value: str

    def matches(self, labels: Mapping[str, str]) -> bool:
        """As Alertmanager matches: a missing label is the empty string."""
        actual = labels.get(self.name, "")
        if self.operator in ("=", "!="):
            return (actual == self.value) == (self.operator == "=")
        return bool(re.fullmatch(self.value, actual)) == (self.operator == "=~")


def parse_matchers(text: str) -> list[Matcher]:
    """The matchers of `text`, one a line (blank lines skipped); ValueError names the first bad line."""
    matchers = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        found = MATCHER.match(line)
        if found is None:
            raise ValueError(f"Line {number} is not a matcher: write it as name=\"value\" (or !=, =~, !~).")
        name, operator, quoted = found.groups()
        value = re.sub(r"\\(.)", r"\1", quoted)
        if operator in ("=~", "!~"):
            try:
                re.compile(value)
            except re.error as error:
                raise ValueError(f"Line {number} has an invalid regular expression: {error}.") from error
        matchers.append(Matcher(name, operator, value))
    return matchers


def matching_any(matchers: list[Matcher], labels: Mapping[str, str]) -> bool:
    return any(matcher.matches(labels) for matcher in matchers)
