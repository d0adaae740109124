"""
The permission matrix: every address of the product, requested by every kind of
visitor, answers exactly as the roles in DESIGN.md say. A new address that is not in
the matrix fails `test_matrix_covers_every_address` until someone decides who may use it.
"""
from __future__ import annotations

from typing import Callable

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.models import BackupCode
from audit.models import Action, AuditLog
from incidents.models import Attachment, Comment, Incident
from incidents.services import attachment_add
from tests.conftest import signed_in, signed_in_verified
from tests.factories import make_incident, make_totp_device, make_upload, make_user

pytestmark = pytest.mark.django_db

ROLES = ("anonymous", "reporter", "other", "responder", "admin", "responder_no_2fa", "admin_unverified")

# Expected answer per role, in ROLES order. A number is a status; a letter a redirect:
# L sign-in (with next), S sign-in (fresh start), I sign-in then the admin index, C the code
# step, E enrolment, D the dashboard, A the admin's sign-in.
MATRIX: dict[str, tuple[str, str]] = {
    # url name: (expected per role, how to build the address)
    "dashboard":                          ("L 200 200 200 200 E C", ""),
    "incidents:list":                     ("L 200 200 200 200 E C", ""),
    "incidents:create":                   ("L 200 200 200 200 E C", ""),
    "incidents:detail":                   ("L 200 404 200 200 E C", "incident"),
    "incidents:edit":                     ("L 200 404 200 200 E C", "incident"),
    "incidents:export":                   ("L 200 200 200 200 E C", ""),
    "incidents:comment":                  ("L 405 405 405 405 E C", "incident"),
    "incidents:take":                     ("L 405 405 405 405 E C", "incident"),
    "incidents:attachment":               ("L 200 404 200 200 E C", "attachment"),
    "incidents:attachment_remove":        ("L 405 405 405 405 E C", "attachment"),
    "incidents:transition":               ("L 405 405 405 405 E C", "transition"),
    "accounts:login":                     ("200 D D D D E C", ""),
    "accounts:login_code":                ("S D D D D D 200", ""),
    "accounts:logout":                    ("405 405 405 405 405 405 405", ""),
    "accounts:security":                  ("L 200 200 200 200 200 200", ""),
    "accounts:preferences":               ("L 200 200 200 200 E C", ""),
    "accounts:enrol_start":               ("L 405 405 405 405 405 405", ""),
    "accounts:enrol_confirm":             ("L 405 405 405 405 405 405", ""),
    "accounts:enrol_link":                ("L 200 200 200 200 200 200", "token"),
    "accounts:enrol_link_request":        ("L 405 405 405 405 405 405", ""),
    "accounts:backup_codes":              ("L 405 405 405 405 E C", ""),
    "accounts:otp_remove":                ("L 405 405 405 405 E C", ""),
    "accounts:password_change":           ("L 405 405 405 405 E C", ""),
    "accounts:api_token_create":          ("L 405 405 405 405 E C", ""),
    "accounts:api_token_revoke":          ("L 405 405 405 405 E C", "incident"),
    "accounts:password_reset":            ("200 200 200 200 200 E C", ""),
    "accounts:password_reset_done":       ("200 200 200 200 200 E C", ""),
    "accounts:password_reset_confirm":    ("200 200 200 200 200 E C", "reset"),
    "accounts:password_reset_complete":   ("200 200 200 200 200 E C", ""),
    "metrics":                            ("404 404 404 404 404 E C", ""),
    # The API with the browser session (tests/api/test_permission_matrix.py has it with tokens).
    "api-schema":                         ("200 200 200 200 200 E C", ""),
    "api-docs":                           ("200 200 200 200 200 E C", ""),
    "api-incidents":                      ("401 200 200 200 200 E C", ""),
    "api-incident":                       ("401 200 404 200 200 E C", "incident"),
    "api-incident-transitions":           ("401 405 405 405 405 E C", "incident"),
    "api-incident-comments":              ("401 200 404 200 200 E C", "incident"),
    "api-incident-timeline":              ("401 200 404 200 200 E C", "incident"),
    "api-categories":                     ("401 200 200 200 200 E C", ""),
    "api-me":                             ("401 200 200 200 200 E C", ""),
    # On call: acknowledging is a POST; a link with a forged token is refused (410 for responders,
    # who could use a real one); the calendar feed's secret is its only key.
    "incidents:acknowledge":              ("L 405 405 405 405 E C", "incident"),
    "incidents:acknowledge-link":         ("L 403 403 410 410 E C", "token"),
    "oncall:mine":                        ("L 403 403 200 200 E C", ""),
    "oncall:swap-answer":                 ("L 403 403 405 405 E C", "swap"),
    "oncall:calendar-rotate":             ("L 403 403 405 405 E C", ""),
    "oncall:page-channel":                ("L 403 403 405 405 E C", ""),
    "oncall:calendar":                    ("404 404 404 404 404 E C", "secret"),
    "api-incident-acknowledge":           ("401 405 405 405 405 E C", "incident"),
    "api-oncall":                         ("401 403 403 200 200 E C", ""),
    # On-call set-up: responders read (the numbers name no record: 404), administrators write.
    "api-oncall-schedules":               ("401 403 403 200 200 E C", ""),
    "api-oncall-schedule":                ("401 403 403 404 404 E C", "incident"),
    "api-oncall-schedule-rotations":      ("401 403 403 404 404 E C", "incident"),
    "api-oncall-schedule-overrides":      ("401 403 403 404 404 E C", "incident"),
    "api-oncall-rotation":                ("401 403 403 404 404 E C", "incident"),
    "api-oncall-override":                ("401 403 403 404 404 E C", "incident"),
    "api-oncall-policies":                ("401 403 403 200 200 E C", ""),
    "api-oncall-policy":                  ("401 403 403 404 404 E C", "incident"),
    "api-oncall-rules":                   ("401 403 403 200 200 E C", ""),
    "api-oncall-rule":                    ("401 403 403 404 404 E C", "incident"),
    # Webhook subscriptions are the responders' (the numbers name no subscription: 404).
    "api-webhooks":                       ("401 403 403 200 200 E C", ""),
    "api-webhook":                        ("401 403 403 404 404 E C", "incident"),
    "api-webhook-deliveries":             ("401 403 403 404 404 E C", "incident"),
    "api-webhook-test":                   ("401 403 403 405 405 E C", "incident"),
    # Alerts take an integration's secret, never a person's session.
    "api-alerts-alertmanager":            ("401 401 401 401 401 E C", ""),
    "api-alerts-generic":                 ("401 401 401 401 401 E C", ""),
    "admin:index":                        ("A A A 200 200 E C", ""),
    "admin:login":                        ("I 403 403 302 302 E C", ""),
    "admin:incidents_incident_changelist": ("A A A 403 200 E C", ""),
    "admin:incidents_incident_change":    ("A A A 403 200 E C", "incident"),
    "admin:accounts_user_changelist":     ("A A A 403 200 E C", ""),
    "admin:audit_auditlog_changelist":    ("A A A 403 200 E C", ""),
    "admin:incidents_category_add":       ("A A A 403 200 E C", ""),
}


@pytest.fixture
def world(db) -> dict[str, object]:
    reporter = make_user(username="reporter")
    responder = make_user(username="responder", is_staff=True)
    clients: dict[str, Client] = {
        "anonymous": Client(),
        "reporter": signed_in(reporter),
        "other": signed_in(make_user(username="other")),
        "responder": signed_in_verified(responder),
        "admin": signed_in_verified(make_user(username="admin", is_staff=True, is_superuser=True)),
        "responder_no_2fa": signed_in(make_user(username="newstaff", is_staff=True)),
    }
    unverified_admin = make_user(username="root", is_staff=True, is_superuser=True)
    make_totp_device(user=unverified_admin)
    clients["admin_unverified"] = signed_in(unverified_admin)
    incident = make_incident(reporter=reporter)
    attachment_add(incident, actor=responder, files=[make_upload("screenshot.png")])
    return {"clients": clients, "incident": incident}


def address(name: str, kind: str, incident: Incident) -> str:
    if kind == "attachment":
        return reverse(name, args=[incident.pk, incident.attachments.get().pk])
    args: dict[str, list[object]] = {
        "": [], "incident": [incident.pk], "transition": [incident.pk, "start"], "reset": ["MQ", "set-password"],
        "token": ["not-a-real-link"], "swap": [incident.pk, "accept"], "secret": ["not-a-real-secret"],
    }
    return reverse(name, args=args[kind])


def expected_location(code: str, url: str) -> str:
    return {
        "L": f"{reverse('accounts:login')}?next={url}",
        "S": reverse("accounts:login"),
        "I": f"{reverse('accounts:login')}?next={reverse('admin:index')}",
        "C": reverse("accounts:login_code"),
        "E": reverse("accounts:security"),
        "D": reverse("dashboard"),
        "A": f"{reverse('admin:login')}?next={url}",
    }[code]


def named_addresses(patterns: list[URLPattern | URLResolver], namespace: str = "") -> set[str]:
    names: set[str] = set()
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            if pattern.namespace != "admin":
                names |= named_addresses(pattern.url_patterns, f"{pattern.namespace}:" if pattern.namespace else "")
        elif pattern.name:
            names.add(namespace + pattern.name)
    return names


def test_matrix_covers_every_address():
    missing = named_addresses(get_resolver().url_patterns) - set(MATRIX)
    assert not missing, f"Add these addresses to the permission matrix: {sorted(missing)}"


def counts() -> dict[str, int]:
    """Row counts a GET must leave alone. An export is audited (who took a copy of what), which records a read."""
    tallies = {model.__name__: model.objects.count()
               for model in (Incident, Comment, Attachment, TOTPDevice, BackupCode)}
    return {**tallies, "AuditLog": AuditLog.objects.exclude(action=Action.INCIDENTS_EXPORTED).count()}


@pytest.mark.parametrize("name", sorted(MATRIX))
def test_every_role_gets_the_expected_answer_and_get_changes_nothing(name, world, tally):
    expectations, kind = MATRIX[name]
    incident = world["incident"]
    assert isinstance(incident, Incident)
    clients = world["clients"]
    assert isinstance(clients, dict)
    url = address(name, kind, incident)
    before = counts(), Incident.objects.values().get(pk=incident.pk)
    for role, expected in zip(ROLES, expectations.split(), strict=True):
        response = clients[role].get(url)
        if expected.isdigit():
            assert response.status_code == int(expected), f"{role} GET {url}"
        else:
            assert response.status_code == 302, f"{role} GET {url}"
            assert response["Location"] == expected_location(expected, url), f"{role} GET {url}"
    assert (counts(), Incident.objects.values().get(pk=incident.pk)) == before, f"GET {url} changed something"
    tally("access", "address x role", len(ROLES))


ActionPost = Callable[[Client, Incident], object]


@pytest.mark.parametrize("role", ["anonymous", "other", "responder_no_2fa", "admin_unverified"])
def test_roles_that_may_not_act_on_an_incident_change_nothing(role, world):
    incident = world["incident"]
    assert isinstance(incident, Incident)
    clients = world["clients"]
    assert isinstance(clients, dict)
    client = clients[role]
    before = Incident.objects.values().get(pk=incident.pk), Comment.objects.count(), Attachment.objects.count()
    responses = [
        client.post(reverse("incidents:attachment_remove", args=[incident.pk, incident.attachments.get().pk])),
        client.post(reverse("incidents:comment", args=[incident.pk]), {"body": "sneaky"}),
        client.post(reverse("incidents:transition", args=[incident.pk, "start"]), {"version": 1}),
        client.post(reverse("incidents:take", args=[incident.pk]), {"version": 1}),
        client.post(reverse("incidents:edit", args=[incident.pk]),
                    {"title": "Hijacked", "description": "x", "severity": 1, "version": 1}),
    ]
    assert all(response.status_code in (302, 404) for response in responses), [r.status_code for r in responses]
    assert (Incident.objects.values().get(pk=incident.pk), Comment.objects.count(), Attachment.objects.count()) == before


def test_reporter_cannot_move_their_own_incident_through_the_workflow(world):
    incident = world["incident"]
    assert isinstance(incident, Incident)
    clients = world["clients"]
    assert isinstance(clients, dict)
    response = clients["reporter"].post(reverse("incidents:transition", args=[incident.pk, "resolve"]), {"version": 1})
    assert response.status_code == 403
    incident.refresh_from_db()
    assert incident.status == "open"
