"""
State changes of an account: its credentials (the second factor, backup codes and the
password), the account itself as administrators create, change and delete it, and
the preferences users set for themselves, and personal access tokens for the API.
Each one is audited in its own transaction; the account holder is told by e-mail of
credential changes, so a change they did not make does not go unnoticed.
"""
from __future__ import annotations

import datetime
import hashlib
import math
import secrets
from collections.abc import Iterable
from functools import partial
from typing import Any

from django.conf import settings
from django.contrib.auth.models import Group, Permission
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.db import transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django_otp import user_has_device
from django_otp.models import Device
from django_otp.plugins.otp_totp.models import TOTPDevice

from audit.models import Action
from audit.services import FAILURE_WINDOW, audit_record, failure_record
from common.text import clean_plain_text

from .limits import count_of, counted
from .models import (ApiToken, BackupCode, BackupCodeDevice, EnrolmentLink, User, backup_code_digest, new_backup_code,
                     normalised_code)

BACKUP_CODE_COUNT = 10
TOTP_DEVICE_NAME = "Authenticator app"
BACKUP_DEVICE_NAME = "Backup codes"

INVALID_CODE_MESSAGE = "That code is not valid. Enter the 6-digit code your app shows now, or one of your backup codes."


def security_notice_send(user: User, *, change: str) -> None:
    """
    Tell the account holder, once the change is committed, that their credentials
    changed; a user without an address is simply not told.
    """
    if not user.email:
        return
    body = render_to_string("accounts/email/security_notice.txt", {"user": user, "change": change, "when": timezone.now()})
    transaction.on_commit(partial(
        send_mail, "Security change on your Incident Tracker account", body, settings.DEFAULT_FROM_EMAIL, [user.email],
        fail_silently=True,
    ))


def _device_for_code(user: User, code: str) -> TOTPDevice | BackupCodeDevice | None:
    """An all-digit code is for the authenticator app; anything else is a backup code."""
    model: type[TOTPDevice] | type[BackupCodeDevice] = TOTPDevice if code.isdigit() else BackupCodeDevice
    return model.objects.devices_for_user(user, confirmed=True).select_for_update().first()


TOO_MANY_WRONG_PASSWORDS = "Too many wrong passwords. Wait 15 minutes, then try again."


def password_confirm(user: User, *, password: str) -> bool:
    """
    Whether `password` is `user`'s current one, asked by a signed-in user's forms (new
    backup codes, turning off two-factor sign-in, changing the password). Wrong answers
    are counted like wrong passwords at sign-in (one audit row per window); after
    AXES_FAILURE_LIMIT of them in FAILURE_WINDOW, a stolen session cannot guess further
    and ValidationError says to wait.
    """
    key = f"password-confirm-failures:{user.pk}"
    if count_of(key, window=FAILURE_WINDOW) >= settings.AXES_FAILURE_LIMIT:
        raise ValidationError(TOO_MANY_WRONG_PASSWORDS, code="throttled")
    if user.check_password(password):
        return True
    counted(key, window=FAILURE_WINDOW)
    failure_record(Action.SIGN_IN_FAILED, account=user, changes={"step": "current password asked again"})
    return False


def otp_verify(user: User, *, token: str) -> Device:
    """
    Check a code against the user's confirmed devices and return the device that
    accepted it. A wrong code is recorded (OTP_FAILED) and makes the device wait
    longer before it checks the next one (django-otp's exponential throttling); a
    backup code is consumed when it is accepted.
    """
    code = normalised_code(token)
    with transaction.atomic():
        device = _device_for_code(user, code)
        allowed, details = device.verify_is_allowed() if device else (True, None)
        if device is not None and allowed and device.verify_token(code):
            return device
        reason = "throttled" if not allowed else "wrong code"
        failure_record(Action.OTP_FAILED, account=user,
                       changes={"reason": reason, "device": device.name if device else "none"})
    if not allowed and details and "locked_until" in details:
        wait = max(1, math.ceil((details["locked_until"] - timezone.now()).total_seconds()))
        raise ValidationError(f"Too many wrong codes in a row. Wait {wait} seconds, then try again.", code="throttled")
    raise ValidationError(INVALID_CODE_MESSAGE, code="invalid")


ENROLMENT_LINK_INVALID = ("This enrolment link cannot be used: it has expired, was used already, or belongs to another "
                          "account. Ask an administrator for a new one, or send yourself one from the security page.")


def _token_hash(token: str) -> str:
    """Link secrets are 256-bit random values: a plain SHA-256 is enough to keep them out of the table."""
    return hashlib.sha256(token.encode()).hexdigest()


def enrolment_link_url(token: str) -> str:
    return settings.SITE_URL + reverse("accounts:enrol_link", kwargs={"token": token})


def enrolment_link_issue(user: User, *, actor: User | None, mail: bool = True) -> str:
    """
    Give `user` a one-time link to set up an authenticator, valid ENROLMENT_LINK_HOURS,
    and e-mail it to the account's own address unless `mail` is False (an operator's
    command prints it instead). `actor` is the administrator who issued it, the user
    asking for it themself, or None for an operator. Earlier unused links stop working.
    Returns the link's secret.
    """
    token = secrets.token_urlsafe(32)
    expires_at = timezone.now() + datetime.timedelta(hours=settings.ENROLMENT_LINK_HOURS)
    with transaction.atomic():
        EnrolmentLink.objects.filter(user=user).usable().delete()
        EnrolmentLink.objects.create(user=user, token_hash=_token_hash(token), expires_at=expires_at,
                                     issued_by=actor if actor is not None and actor.pk != user.pk else None)
        audit_record(Action.OTP_ENROLMENT_LINK_ISSUED, actor=actor, target=user,
                     changes={"expires_at": expires_at, "mailed_to": user.email if mail else ""})
        if mail and user.email:
            body = render_to_string("accounts/email/enrolment_link.txt", {
                "user": user, "url": enrolment_link_url(token), "expires_at": expires_at,
            })
            transaction.on_commit(partial(
                send_mail, "Set up two-factor sign-in for the Incident Tracker", body, settings.DEFAULT_FROM_EMAIL,
                [user.email], fail_silently=True,
            ))
    return token


def enrolment_link_redeem(user: User, *, token: str) -> TOTPDevice:
    """
    Use up `user`'s enrolment link and start a new authenticator for them, and mail the
    account's owner that it was used. A link that has expired, was used, or is someone
    else's raises ValidationError and changes nothing.
    """
    with transaction.atomic():
        link = EnrolmentLink.objects.select_for_update().usable().filter(user=user, token_hash=_token_hash(token)).first()
        if link is None:
            raise ValidationError(ENROLMENT_LINK_INVALID, code="invalid_link")
        link.used_at = timezone.now()
        link.save(update_fields=["used_at"])
        audit_record(Action.OTP_ENROLMENT_LINK_USED, actor=user, target=user)
        # Whoever used the link, the owner hears of it: if it was not them, the link was read on its way.
        security_notice_send(user, change="Your two-factor enrolment link was used to set up an authenticator app.")
        return totp_device_start(user)


def totp_device_start(user: User) -> TOTPDevice:
    """
    Give the user a new, unconfirmed authenticator secret to scan. It replaces any
    earlier unconfirmed one; it signs nothing in until confirmed with a code.
    """
    with transaction.atomic():
        TOTPDevice.objects.devices_for_user(user, confirmed=False).delete()
        return TOTPDevice.objects.create(user=user, name=TOTP_DEVICE_NAME, confirmed=False)


def _new_backup_codes(user: User) -> list[str]:
    """Ten new codes, returned to be shown once: only their hashes are stored."""
    device, _ = BackupCodeDevice.objects.get_or_create(user=user, name=BACKUP_DEVICE_NAME, defaults={"confirmed": True})
    device.codes.all().delete()
    codes = [new_backup_code() for _ in range(BACKUP_CODE_COUNT)]
    BackupCode.objects.bulk_create(BackupCode(device=device, code_hash=backup_code_digest(code)) for code in codes)
    return codes


def totp_device_confirm(device: TOTPDevice, *, token: str) -> list[str]:
    """
    Confirm the pending authenticator with a code it generated, replace any earlier
    device, end every session of the user (the caller keeps its own with
    update_session_auth_hash), and return a fresh set of backup codes (shown once).
    """
    user = device.user
    with transaction.atomic():
        if not device.verify_token(normalised_code(token)):
            failure_record(Action.OTP_FAILED, account=user, changes={"reason": "wrong enrolment code"})
            failed = True
        else:
            TOTPDevice.objects.devices_for_user(user).exclude(pk=device.pk).delete()
            device.confirmed = True
            device.save(update_fields=["confirmed"])
            # Sessions signed in with the password alone end; the caller keeps its own (update_session_auth_hash).
            user.sessions_generation += 1
            user.save(update_fields=["sessions_generation"])
            codes = _new_backup_codes(user)
            audit_record(Action.OTP_ENROLLED, actor=user, target=user, changes={"device": device.name})
            security_notice_send(user, change="Two-factor sign-in was turned on with a new authenticator app.")
            failed = False
    if failed:
        raise ValidationError("That code does not match the app. Check the clock on your phone and try the new code.",
                              code="invalid")
    return codes


def backup_codes_regenerate(user: User) -> list[str]:
    """Replace every backup code with ten new ones; the old ones stop working at once."""
    with transaction.atomic():
        codes = _new_backup_codes(user)
        audit_record(Action.OTP_BACKUP_CODES_REGENERATED, actor=user, target=user)
        security_notice_send(user, change="New backup codes were generated; the earlier ones no longer work.")
    return codes


def _devices_delete(user: User) -> list[str]:
    """Delete every device of `user` (authenticator and backup codes); the names of the authenticators removed."""
    removed = [device.name for device in TOTPDevice.objects.devices_for_user(user)]
    TOTPDevice.objects.devices_for_user(user).delete()
    BackupCodeDevice.objects.devices_for_user(user).delete()
    return removed


def second_factor_remove(user: User, *, actor: User) -> None:
    """
    Remove every device of the user: by the user themself (after re-authenticating)
    or by an administrator resetting a lost phone. Staff will have to enrol again
    before they can do anything else.
    """
    with transaction.atomic():
        removed = _devices_delete(user)
        audit_record(Action.OTP_REMOVED, actor=actor, target=user,
                     changes={"devices": removed, "by_administrator": actor.pk != user.pk})
        if actor.pk != user.pk:
            api_tokens_revoke_all(user, actor=actor, reason="two-factor sign-in reset by an administrator")
        security_notice_send(user, change="Two-factor sign-in was turned off"
                             + (" by an administrator." if actor.pk != user.pk else "."))


def password_set(user: User, *, password: str, action: Action) -> User:
    """
    Store a new password (already validated by the form) after a change or a reset.
    Every other session of the user ends, because their session hash no longer matches;
    after a reset (someone may have had the account) their API tokens stop working too.
    """
    with transaction.atomic():
        user.set_password(password)
        user.save(update_fields=["password"])
        audit_record(action, actor=user, target=user)
        if action == Action.PASSWORD_RESET:
            api_tokens_revoke_all(user, actor=user, reason="password reset")
        security_notice_send(user, change="Your password was changed." if action == Action.PASSWORD_CHANGED
                             else "Your password was reset through the link e-mailed to you.")
    return user


# The account fields an administrator edits; the password is never recorded, only that it changed.
_UNRECORDED_USER_FIELDS = frozenset({"id", "password"})


def _recorded(value: Any) -> Any:
    """
    Timestamps to the second: the admin's date fields drop microseconds on every save,
    which is not a change anybody made.
    """
    return value.replace(microsecond=0) if isinstance(value, datetime.datetime) else value


def _user_snapshot(user: User) -> dict[str, Any]:
    values: dict[str, Any] = {
        field.name: _recorded(getattr(user, field.attname))
        for field in User._meta.concrete_fields
        if field.name not in _UNRECORDED_USER_FIELDS
    }
    values["groups"] = sorted(user.groups.values_list("name", flat=True))
    values["user_permissions"] = sorted(
        f"{app_label}.{codename}"
        for app_label, codename in user.user_permissions.values_list("content_type__app_label", "codename")
    )
    return values


def user_save(
    user: User,
    *,
    actor: User,
    groups: Iterable[Group] | None = None,
    user_permissions: Iterable[Permission] | None = None,
) -> User:
    """
    Create or change an account (the admin's way to write one), with its groups and
    permissions when given, and record exactly the fields that changed; a changed
    password appears as "changed", never as a hash.
    """
    is_new = user._state.adding
    stored = None if is_new else User.objects.get(pk=user.pk)
    before = _user_snapshot(stored) if stored is not None else {}
    user.full_clean(exclude=["password"])
    with transaction.atomic():
        user.save()
        if groups is not None:
            user.groups.set(groups)
        if user_permissions is not None:
            user.user_permissions.set(user_permissions)
        after = _user_snapshot(user)
        changes: dict[str, Any] = {
            name: [before.get(name), value] for name, value in after.items() if before.get(name) != value
        }
        if stored is None or stored.password != user.password:
            changes["password"] = "set" if is_new else "changed"
        if changes:
            audit_record(Action.USER_CREATED if is_new else Action.USER_CHANGED, actor=actor, target=user, changes=changes)
        if stored is not None and _promoted(stored, user):
            _devices_of_a_reporter_remove(user, actor=actor)
    return user


def _promoted(before: User, after: User) -> bool:
    return not (before.is_staff or before.is_superuser) and (after.is_staff or after.is_superuser)


def _devices_of_a_reporter_remove(user: User, *, actor: User) -> None:
    """
    Staff set up their second factor only through an enrolment link, so that their
    password alone never decides who owns it. An authenticator a reporter enrolled at
    will (perhaps whoever knew their password then) does not carry over to a promotion.
    """
    if not user_has_device(user, confirmed=None):
        return
    audit_record(Action.OTP_REMOVED, actor=actor, target=user, changes={
        "devices": _devices_delete(user), "reason": "promoted to staff: enrol again through an enrolment link"})
    security_notice_send(user, change="Your account became a staff account. Set up two-factor sign-in again "
                         "with the enrolment link an administrator sends you.")


def user_password_replaced(user: User, *, actor: User) -> None:
    """
    Record that an administrator gave `user` a new password (or none) through the
    admin, which stores it itself; call it in the same transaction. The user is told.
    """
    with transaction.atomic():
        audit_record(Action.USER_CHANGED, actor=actor, target=user, changes={"password": "changed"})
        api_tokens_revoke_all(user, actor=actor, reason="password replaced by an administrator")
        security_notice_send(user, change="Your password was changed by an administrator.")


def user_delete(user: User, *, actor: User) -> None:
    """
    Delete an account. Someone who reported incidents is protected (ProtectedError),
    and then nothing is deleted or recorded; their audit rows are never touched.
    """
    with transaction.atomic():
        audit_record(Action.USER_DELETED, actor=actor, target=user, changes={"username": [user.get_username(), None]})
        user.delete()


PREFERENCE_FIELDS = ("time_zone", "notify_assigned", "notify_status", "notify_comments", "notify_major")


def user_preferences_update(user: User, *, actor: User, **values: Any) -> User:
    """
    Save `user`'s time zone and e-mail choices. Only the preference fields may be
    passed (anything else is a programming error, not user input); unchanged values
    write nothing and leave no audit row.
    """
    unknown = set(values) - set(PREFERENCE_FIELDS)
    if unknown:
        raise ValueError(f"Not a preference: {', '.join(sorted(unknown))}")
    changed = {name: value for name, value in values.items() if getattr(user, name) != value}
    if not changed:
        return user
    diff = {name: [getattr(user, name), value] for name, value in changed.items()}
    for name, value in changed.items():
        setattr(user, name, value)
    user.full_clean(validate_unique=False)
    with transaction.atomic():
        user.save(update_fields=list(changed))
        audit_record(Action.USER_CHANGED, actor=actor, target=user, changes=diff)
    return user


# Personal access tokens: "itk_" and 43 URL-safe characters (256 random bits).
API_TOKEN_PREFIX = "itk_"
API_TOKEN_MAX_DAYS = 366
# last_used_at is refreshed at most this often, so a busy token does not write its row on every request.
API_TOKEN_USE_RESOLUTION = datetime.timedelta(minutes=1)


def api_token_digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8", "replace")).hexdigest()


def api_token_create(
    user: User, *, name: str, scope: str, expires_at: datetime.datetime, second_factor_verified: bool
) -> tuple[ApiToken, str]:
    """
    Mint a personal access token for `user` and return it with its secret, which exists
    only in this return value: the row keeps a digest. Staff must have verified a second
    factor in the session that asks, since the token then works without one.
    """
    if (user.is_staff or user.is_superuser) and not second_factor_verified:
        raise ValidationError("Staff accounts need a verified second factor to create an API token.")
    now = timezone.now()
    if not now < expires_at <= now + datetime.timedelta(days=API_TOKEN_MAX_DAYS):
        raise ValidationError({"expires_at": f"Choose an expiry in the future, at most {API_TOKEN_MAX_DAYS} days away."})
    secret = API_TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(user=user, name=clean_plain_text(name), scope=scope, expires_at=expires_at,
                     prefix=secret[:len(API_TOKEN_PREFIX) + 4], digest=api_token_digest(secret))
    token.full_clean()
    with transaction.atomic():
        token.save(force_insert=True)
        audit_record(Action.API_TOKEN_CREATED, actor=user, target=user,
                     changes={"token": [None, token.name], "scope": [None, token.scope],
                              "expires_at": [None, token.expires_at]})
    security_notice_send(user, change=f"An API token named “{token.name}” was created.")
    return token, secret


def api_tokens_revoke_all(user: User, *, actor: User, reason: str) -> None:
    """
    Stop every usable token of `user` working, inside the caller's transaction: when the
    account's credentials are reset, whoever had taken it over may have made tokens.
    """
    tokens = ApiToken.objects.filter(user=user, revoked_at__isnull=True)
    names = list(tokens.values_list("name", flat=True))
    if names:
        tokens.update(revoked_at=timezone.now())
        audit_record(Action.API_TOKEN_REVOKED, actor=actor, target=user,
                     changes={"tokens": [names, None], "reason": reason})


def api_token_revoke(token: ApiToken, *, actor: User) -> ApiToken:
    """Stop `token` working from now on; revoking it again changes nothing."""
    with transaction.atomic():
        revoked = ApiToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())
        if revoked:
            audit_record(Action.API_TOKEN_REVOKED, actor=actor, target=token.user, changes={"token": [token.name, None]})
    token.refresh_from_db()
    return token


def api_token_authenticate(secret: str) -> ApiToken | None:
    """The usable token with this secret (its owner loaded), noting that it was used; None for any other string."""
    if not secret.startswith(API_TOKEN_PREFIX):
        return None
    token = ApiToken.objects.usable().select_related("user").filter(digest=api_token_digest(secret)).first()
    if token is None:
        return None
    now = timezone.now()
    if token.last_used_at is None or now - token.last_used_at >= API_TOKEN_USE_RESOLUTION:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        token.last_used_at = now
    return token
