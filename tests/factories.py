"""Plain builders with keyword defaults: each test states only what it cares about."""
from __future__ import annotations

from typing import Any

from django.utils import timezone

from accounts.models import User
from incidents.models import Category, Comment, Incident, Severity
from incidents.workflow import Status

DEFAULT_PASSWORD = "correct-horse-battery-staple"


def make_user(*, username: str = "user", password: str = DEFAULT_PASSWORD, **fields: Any) -> User:
    fields.setdefault("email", f"{username}@example.com")
    return User.objects.create_user(username=username, password=password, **fields)


def make_category(*, name: str = "Network", **fields: Any) -> Category:
    return Category.objects.create(name=name, **fields)


def make_incident(
    *, reporter: User, title: str = "VPN is down", description: str = "<p>Cannot connect since 9:00.</p>",
    severity: int = Severity.SEV3, status: str = Status.OPEN, **fields: Any
) -> Incident:
    """Writes the row directly (bypassing services) to set up a state; tests of behaviour use the services."""
    if status in (Status.RESOLVED, Status.CLOSED):
        fields.setdefault("resolved_at", timezone.now())
    if status == Status.CLOSED:
        fields.setdefault("closed_at", timezone.now())
    return Incident.objects.create(
        reporter=reporter, title=title, description=description, severity=severity, status=status, **fields
    )


def make_comment(
    *, incident: Incident, author: User, body: str = "<p>Looking into it.</p>", internal: bool = False
) -> Comment:
    return Comment.objects.create(incident=incident, author=author, body=body, internal=internal)
