from __future__ import annotations

from django.contrib.auth.models import AbstractUser

from incidents.sanitize import clean_plain_text


class User(AbstractUser):
    """
    The one user model of the product, swapped in from the first migration so that
    fields can be added later without a painful migration. Staff users are responders;
    superusers are administrators; everyone else is a reporter.
    """

    @property
    def is_responder(self) -> bool:
        return self.is_staff

    def clean(self) -> None:
        """Names are shown on every page an incident appears on: plain text only, as titles are."""
        super().clean()
        self.first_name = clean_plain_text(self.first_name)
        self.last_name = clean_plain_text(self.last_name)

    def __str__(self) -> str:
        return self.get_full_name() or self.username
