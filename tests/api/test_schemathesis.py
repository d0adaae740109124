"""
Schemathesis against the live schema (/api/v1/schema/, served by the app in this process):
generated requests to every operation, as a reporter and as a responder (and the alert
endpoints with their integrations' secrets), with
incidents, comments and notes in place to find, get no server error and no answer the
schema does not describe (status, content type, headers, body). Both well-formed and
malformed requests are generated.

(Schemathesis' own pytest integration does not run under pytest 9 yet, so each
operation's strategy is driven by Hypothesis directly.)
"""
from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Ok
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from api.models import AlertIntegration
from oncall.models import EscalationPolicy, EscalationRule, EscalationStep, Override, Rotation, RotationMember, Schedule
from api.services import integration_create
from tests.api.conftest import token_for
from tests.factories import make_category, make_comment, make_incident, make_user

pytestmark = pytest.mark.django_db
EXAMPLES_PER_OPERATION = 20
# No server error, and no answer the schema does not describe. (Not "every request the
# schema allows is accepted": a page cursor is any string to the schema, yet only the
# list's own cursors are valid, and a made-up one rightly gets 400.)
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_headers_conformance,
          response_schema_conformance]


@pytest.fixture
def tokens(settings) -> dict[str, str]:
    """A reporter's and a responder's tokens, with incidents, comments and notes to read."""
    settings.ALLOWED_HOSTS = ["localhost"]
    settings.API_RATE_PER_MINUTE = 100_000
    reporter = make_user(username="reporter")
    responder = make_user(username="responder", is_staff=True)
    category = make_category()
    for number in range(3):
        incident = make_incident(reporter=reporter, category=category, title=f"Incident {number}")
        make_comment(incident=incident, author=responder)
        make_comment(incident=incident, author=responder, internal=True)
    oncall_set_up(responder)
    return {
        "reporter": token_for(reporter), "responder": token_for(responder),
        **{f"/api/v1/alerts/{kind}/": integration_create(AlertIntegration(name=kind, kind=kind), actor=None)[1]
           for kind in ("alertmanager", "generic")},
    }


def oncall_set_up(responder) -> None:
    """A schedule with a rotation and an override, a policy with a step, and a rule, for the on-call reads."""
    schedule = Schedule.objects.create(name="Platform")
    rotation = Rotation.objects.create(schedule=schedule, name="Weekly", starts_on=date(2026, 3, 2), days=[1, 2])
    RotationMember.objects.create(rotation=rotation, user=responder, position=1)
    Override.objects.create(schedule=schedule, user=responder, starts_at=timezone.now(),
                            ends_at=timezone.now() + timedelta(hours=8))
    policy = EscalationPolicy.objects.create(name="Production")
    EscalationStep.objects.create(policy=policy, position=1, schedule=schedule)
    EscalationRule.objects.create(severity=1, policy=policy)


@pytest.fixture
def app() -> Iterator[Any]:
    """
    The WSGI application, serving inside the test's transaction: like Django's test
    client, it must not close the connection at the end of each request (which would
    end the transaction, and with it the test's data, on PostgreSQL).
    """
    for signal in (request_started, request_finished):
        signal.disconnect(close_old_connections)
    try:
        yield get_wsgi_application()
    finally:
        for signal in (request_started, request_finished):
            signal.connect(close_old_connections)


@pytest.mark.parametrize("role", ["reporter", "responder"])
@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_no_operation_fails_or_breaks_its_schema(app, tokens, role, mode, database_queue):
    """The queue keeps what generated webhook subscriptions would send: nothing leaves the machine."""
    schema = schemathesis.openapi.from_wsgi("/api/v1/schema/?format=json", app)
    operations = [result.ok() for result in schema.get_all_operations() if isinstance(result, Ok)]
    assert len(operations) == 46
    for operation in operations:
        # The alert endpoints take their integration's secret; every other one the person's token.
        exercise(operation, mode, headers={"Authorization": f"Bearer {tokens.get(operation.path, tokens[role])}"})


def exercise(operation, mode, *, headers: dict[str, str]) -> None:
    """Generated requests to one operation, sent with `headers`."""
    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    def call(case):
        case.call_and_validate(headers=headers, checks=CHECKS)

    call()
