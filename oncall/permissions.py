"""Who may see and who may set up on-call: used by the API, the pages and tests alike."""
from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser


def can_see_oncall(user: AbstractBaseUser | AnonymousUser) -> bool:
    """Responders: schedules, rotations, overrides, policies and rules say who is paged, which is theirs to know."""
    return bool(getattr(user, "is_staff", False))


def can_manage_oncall(user: AbstractBaseUser | AnonymousUser) -> bool:
    """Administrators (superusers): a change decides who is woken at night and who is never paged."""
    return bool(getattr(user, "is_superuser", False))
