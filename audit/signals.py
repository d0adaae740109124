"""
Sign-in events come from Django's authentication and from axes, not from our own
code: these receivers observe them and write the audit rows. Domain changes never
travel through signals; services call `audit_record` directly.
"""
from __future__ import annotations

from typing import Any

from axes.signals import user_locked_out
from django.contrib.auth import get_user_model
from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.dispatch import receiver
from django.http import HttpRequest

from .models import Action
from .services import audit_record, failure_record


def _account_named(username: str) -> AbstractBaseUser | None:
    """The account a sign-in attempt was aimed at, if it exists, so its history shows the attempt."""
    if not username or "\x00" in username:
        return None
    user_model = get_user_model()
    return user_model._default_manager.filter(**{user_model.USERNAME_FIELD: username}).first()


def _attempted_username(credentials: dict[str, Any]) -> str:
    """Only the username is kept: Django masks the password, and nothing else in the credentials is recorded."""
    return str(credentials.get(get_user_model().USERNAME_FIELD) or "")


@receiver(user_logged_in, dispatch_uid="audit.signed_in")
def record_sign_in(sender: type, request: HttpRequest | None, user: AbstractBaseUser, **kwargs: Any) -> None:
    """One row per completed sign-in: Django sends this once the last step (password or one-time code) succeeds."""
    audit_record(Action.SIGNED_IN, actor=user, target=user)


@receiver(user_login_failed, dispatch_uid="audit.sign_in_failed")
def record_sign_in_failure(sender: str, credentials: dict[str, Any], request: HttpRequest | None = None,
                           **kwargs: Any) -> None:
    username = _attempted_username(credentials)
    failure_record(Action.SIGN_IN_FAILED, account=_account_named(username), typed_username=username)


@receiver(user_logged_out, dispatch_uid="audit.signed_out")
def record_sign_out(sender: type, request: HttpRequest | None, user: AbstractBaseUser | None, **kwargs: Any) -> None:
    """Signing out while not signed in changes nothing and is not recorded."""
    if user is not None:
        audit_record(Action.SIGNED_OUT, actor=user, target=user)


@receiver(user_locked_out, dispatch_uid="audit.locked_out")
def record_lockout(sender: str, request: HttpRequest | None, username: str | None, ip_address: str | None,
                   **kwargs: Any) -> None:
    """Axes sends this when it locks an account or address out, and again for each attempt refused while locked."""
    name = username or ""
    failure_record(Action.LOCKED_OUT, account=_account_named(name), typed_username=name)
