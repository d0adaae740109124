"""
Two people post the same thing at the same moment, each from their own process with
their own database connection, through the real pages: an edit, a workflow action and
"Assign to me" based on the same version, and one report sent twice. Exactly one
request wins; the other is refused as stale (or finds the first report), the version
moves once, one audit row records it, and nobody sees an error page.

These need PostgreSQL's row locks (`select_for_update`); SQLite takes one write lock
for the whole database, so on SQLite the race cannot happen and the tests are skipped.
"""
from __future__ import annotations

import json
import os
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.urls import reverse

from audit.models import Action, AuditLog
from incidents.models import Incident
from incidents.workflow import Status
from tests.factories import make_incident, make_user
from tests.processes import database_url, run_behind_barrier

pytestmark = [pytest.mark.postgresql, pytest.mark.django_db(transaction=True)]

STALE_ACTION = "This incident changed since you loaded the page; nothing was done."
STALE_EDIT = "Someone else changed this incident while you were editing it."


@dataclass(frozen=True)
class Shown:
    """What one person's browser ended on after posting."""

    statuses: list[int]
    url: str
    page: str


@dataclass(frozen=True)
class Attempt:
    session: str
    page: str
    url: str
    data: dict[str, Any]


def race(tmp_path: Path, attempts: dict[str, Attempt]) -> dict[str, Shown]:
    """Each attempt in its own process, released together; what each person was shown."""
    env = {**os.environ, "DATABASE_URL": database_url(tmp_path)}
    children = {
        name: ["tests.incidents.contending_client", str(tmp_path), name, attempt.session, attempt.page, attempt.url,
               json.dumps(attempt.data)]
        for name, attempt in attempts.items()
    }
    printed = run_behind_barrier(children, barrier=tmp_path, env=env)
    shown = {name: Shown(**json.loads(output.splitlines()[-1])) for name, output in printed.items()}
    for name, outcome in shown.items():
        assert 500 not in outcome.statuses, f"{name} was shown an error page"
    return shown


def winner_and_loser(shown: dict[str, Shown], *, won: str, refused: str) -> tuple[str, str]:
    """The one who saw `won` and the one who saw `refused`; fails unless there is exactly one of each."""
    winners = [name for name, outcome in shown.items() if won in outcome.page]
    losers = [name for name, outcome in shown.items() if refused in outcome.page]
    assert (len(winners), len(losers)) == (1, 1), f"won: {winners}, refused: {losers}"
    return winners[0], losers[0]


@pytest.fixture
def responders(otp_client) -> dict[str, str]:
    """Two responders, each signed in with a verified second factor: their session keys."""
    return {
        name: otp_client(make_user(username=name, is_staff=True)).cookies[settings.SESSION_COOKIE_NAME].value
        for name in ("alice", "bob")
    }


def audit_rows(incident: Incident, action: Action) -> int:
    return AuditLog.objects.filter(action=action, target_id=str(incident.pk)).count()


def test_two_responders_saving_the_same_version_one_edit_wins_the_other_sees_it(tmp_path, reporter, responders):
    incident = make_incident(reporter=reporter, title="VPN down")
    edit, detail = reverse("incidents:edit", args=[incident.pk]), incident.get_absolute_url()
    titles = {"alice": "VPN down for everyone", "bob": "VPN down in Leeds"}
    shown = race(tmp_path, {
        name: Attempt(session, edit, edit, {"title": titles[name], "description": incident.description,
                                            "severity": incident.severity, "version": 1})
        for name, session in responders.items()
    })

    winner, loser = winner_and_loser(shown, won="Incident updated.", refused=STALE_EDIT)
    assert (shown[winner].statuses, shown[winner].url) == ([302, 200], detail)
    assert (shown[loser].statuses, shown[loser].url) == ([200], edit)
    assert titles[winner] in shown[loser].page, "the refused editor is shown the newer title"
    incident.refresh_from_db()
    assert (incident.title, incident.version) == (titles[winner], 2)
    assert audit_rows(incident, Action.INCIDENT_EDITED) == 1


def test_two_responders_pressing_the_same_workflow_button_move_the_incident_once(tmp_path, reporter, responders):
    incident = make_incident(reporter=reporter)
    detail = incident.get_absolute_url()
    start = reverse("incidents:transition", args=[incident.pk, "start"])
    shown = race(tmp_path, {name: Attempt(session, detail, start, {"version": 1}) for name, session in responders.items()})

    winner_and_loser(shown, won="Incident is now In progress.", refused=STALE_ACTION)
    assert all((outcome.statuses, outcome.url) == ([302, 200], detail) for outcome in shown.values())
    incident.refresh_from_db()
    assert (incident.status, incident.version) == (Status.IN_PROGRESS, 2)
    assert audit_rows(incident, Action.INCIDENT_TRANSITIONED) == 1


def test_two_responders_taking_the_same_incident_only_one_gets_it(tmp_path, reporter, responders):
    incident = make_incident(reporter=reporter)
    detail = incident.get_absolute_url()
    take = reverse("incidents:take", args=[incident.pk])
    shown = race(tmp_path, {name: Attempt(session, detail, take, {"version": 1}) for name, session in responders.items()})

    winner, _ = winner_and_loser(shown, won="The incident is assigned to you.", refused=STALE_ACTION)
    assert all((outcome.statuses, outcome.url) == ([302, 200], detail) for outcome in shown.values())
    incident.refresh_from_db()
    assert incident.assignee is not None
    assert (incident.assignee.username, incident.version) == (winner, 2)
    assert audit_rows(incident, Action.INCIDENT_ASSIGNED) == 1


def test_the_same_report_sent_twice_at_once_is_recorded_once(tmp_path, reporter, otp_client):
    session = otp_client(reporter).cookies[settings.SESSION_COOKIE_NAME].value
    new = reverse("incidents:create")
    report = {"title": "VPN down", "description": "Cannot connect since 9:00.", "severity": 2,
              "submission_token": str(uuid.uuid4())}
    shown = race(tmp_path, {tab: Attempt(session, new, new, report) for tab in ("first-tab", "second-tab")})

    assert Incident.objects.count() == 1
    incident = Incident.objects.get()
    winner_and_loser(shown, won=f"Incident #{incident.pk} reported.",
                     refused=f"This report was already submitted as incident #{incident.pk}.")
    assert all((outcome.statuses, outcome.url) == ([302, 200], incident.get_absolute_url()) for outcome in shown.values())
    assert audit_rows(incident, Action.INCIDENT_REPORTED) == 1
