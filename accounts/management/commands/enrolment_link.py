"""
`manage.py enrolment_link USERNAME`: issue a one-time link for a staff account to set up
its authenticator and print it (nothing is mailed), for an operator to hand over: the
first administrator, or a user whose mail does not arrive.
"""
from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from accounts.models import User
from accounts.services import enrolment_link_issue, enrolment_link_url


class Command(BaseCommand):
    help = "Issue a one-time two-factor enrolment link for a user and print it."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")

    def handle(self, *args: Any, username: str, **options: Any) -> None:
        user = User.objects.filter(username=username, is_active=True).first()
        if user is None:
            raise CommandError(f"No active user is called “{username}”.")
        token = enrolment_link_issue(user, actor=None, mail=False)
        self.stdout.write(f"Enrolment link for {username} (works once; sign in as {username}, then open it):")
        self.stdout.write(enrolment_link_url(token))
