"""
The incident workflow as data: which transitions exist, from where to where, and
which lifecycle timestamp each one sets or clears. `incidents.services.incident_transition`
is the only code that applies it.

    Open -> In progress -> Resolved -> Closed
    Resolved or Closed -> Open (reopen)

Reopening clears resolved_at and closed_at; acknowledged_at keeps the first
acknowledgement, because time to acknowledge measures the first response.
"""
from __future__ import annotations

from dataclasses import dataclass

from django.db import models


class Status(models.TextChoices):
    OPEN = "open", "Open"
    IN_PROGRESS = "in_progress", "In progress"
    RESOLVED = "resolved", "Resolved"
    CLOSED = "closed", "Closed"


@dataclass(frozen=True)
class Transition:
    name: str
    label: str
    sources: frozenset[str]
    target: str
    sets: tuple[str, ...] = ()
    clears: tuple[str, ...] = ()
    # Timestamps set only if still empty, so repeated passes keep the first moment.
    sets_once: tuple[str, ...] = ()


TRANSITIONS: dict[str, Transition] = {
    transition.name: transition
    for transition in (
        Transition(
            name="start",
            label="Start work",
            sources=frozenset({Status.OPEN}),
            target=Status.IN_PROGRESS,
            sets_once=("acknowledged_at",),
        ),
        Transition(
            name="resolve",
            label="Resolve",
            sources=frozenset({Status.IN_PROGRESS}),
            target=Status.RESOLVED,
            sets=("resolved_at",),
        ),
        Transition(
            name="close",
            label="Close",
            sources=frozenset({Status.RESOLVED}),
            target=Status.CLOSED,
            sets=("closed_at",),
        ),
        Transition(
            name="reopen",
            label="Reopen",
            sources=frozenset({Status.RESOLVED, Status.CLOSED}),
            target=Status.OPEN,
            clears=("resolved_at", "closed_at"),
        ),
    )
}


# Not offered to people: a monitoring integration resolving the incident its alerts opened.
# From Open it goes straight to Resolved, so acknowledged_at stays empty (nobody
# acknowledged it) and time to acknowledge is not skewed by the monitoring account.
MONITORING_RESOLVE = Transition(
    name="resolve",
    label="Resolve",
    sources=frozenset({Status.OPEN, Status.IN_PROGRESS}),
    target=Status.RESOLVED,
    sets=("resolved_at",),
)


def transitions_from(status: str) -> list[Transition]:
    """The transitions an incident in `status` may take, in workflow order."""
    return [transition for transition in TRANSITIONS.values() if status in transition.sources]


def path_to(status: str, target: str) -> list[Transition]:
    """The shortest run of transitions from `status` to `target` (empty when already there)."""
    routes: dict[str, list[Transition]] = {status: []}
    frontier = [status]
    while frontier and target not in routes:
        next_frontier = []
        for current in frontier:
            for transition in transitions_from(current):
                if transition.target not in routes:
                    routes[transition.target] = [*routes[current], transition]
                    next_frontier.append(transition.target)
        frontier = next_frontier
    return routes.get(target, [])
