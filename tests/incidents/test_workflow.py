"""The workflow table: which moves exist from each status, and the shortest route between two statuses."""
from __future__ import annotations

import pytest

from incidents.workflow import TRANSITIONS, Status, path_to, transitions_from


@pytest.mark.parametrize(
    ("status", "offered"),
    [
        (Status.OPEN, ["start"]),
        (Status.IN_PROGRESS, ["resolve"]),
        (Status.RESOLVED, ["close", "reopen"]),
        (Status.CLOSED, ["reopen"]),
    ],
)
def test_each_status_offers_only_its_allowed_moves_in_workflow_order(status, offered):
    assert [transition.name for transition in transitions_from(status)] == offered


def test_an_unknown_status_offers_nothing():
    assert transitions_from("escalated") == []


def test_every_status_can_be_left_and_reached():
    sources = set().union(*(transition.sources for transition in TRANSITIONS.values()))
    targets = {transition.target for transition in TRANSITIONS.values()}
    assert sources == targets == set(Status.values)


def test_reopen_clears_the_resolution_but_keeps_the_first_acknowledgement():
    reopen = TRANSITIONS["reopen"]
    assert reopen.target == Status.OPEN
    assert set(reopen.clears) == {"resolved_at", "closed_at"}
    assert "acknowledged_at" not in reopen.clears
    assert TRANSITIONS["start"].sets_once == ("acknowledged_at",)


@pytest.mark.parametrize(
    ("start", "target", "route"),
    [
        (Status.OPEN, Status.CLOSED, ["start", "resolve", "close"]),
        (Status.IN_PROGRESS, Status.CLOSED, ["resolve", "close"]),
        (Status.CLOSED, Status.IN_PROGRESS, ["reopen", "start"]),
        (Status.RESOLVED, Status.OPEN, ["reopen"]),
        (Status.OPEN, Status.OPEN, []),
    ],
)
def test_path_to_finds_the_shortest_route(start, target, route):
    assert [transition.name for transition in path_to(start, target)] == route


def test_path_to_an_unreachable_status_is_empty():
    assert path_to(Status.OPEN, "escalated") == []
