from __future__ import annotations

from django.contrib.auth.models import AbstractUser


class User(AbstractUser):
    """
    The one user model of the product, swapped in from the first migration so that
    fields can be added later without a painful migration. Staff users are responders;
    superusers are administrators; everyone else is a reporter.
    """

    @property
    def is_responder(self) -> bool:
        return self.is_staff

    def __str__(self) -> str:
        return self.get_full_name() or self.username
