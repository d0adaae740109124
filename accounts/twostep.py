"""
The state of a two-step sign-in kept in the session between the password and the code.

After a correct password the visitor is not signed in yet: the session only remembers
who they claim to be, for a few minutes, until a code from their device proves it. The
session key is cycled when that state is created and again when the sign-in completes,
so a key seen before the password (or before the code) is worthless afterwards.
"""
from __future__ import annotations

import time

from django.conf import settings
from django.contrib.auth import login
from django.http import HttpRequest
from django.utils.crypto import constant_time_compare
from django_otp import login as otp_login
from django_otp.models import Device
from django_otp.plugins.otp_totp.models import TOTPDevice

from .models import User

PENDING_USER_KEY = "accounts_pending_user_id"
PENDING_BACKEND_KEY = "accounts_pending_backend"
PENDING_HASH_KEY = "accounts_pending_hash"
PENDING_SINCE_KEY = "accounts_pending_since"
PENDING_NEXT_KEY = "accounts_pending_next"
# The unconfirmed authenticator this session started: its secret is shown, and it can be
# confirmed, only here, never in another session that merely knows the password.
ENROLMENT_DEVICE_KEY = "accounts_enrolment_device_id"
PENDING_KEYS = (PENDING_USER_KEY, PENDING_BACKEND_KEY, PENDING_HASH_KEY, PENDING_SINCE_KEY, PENDING_NEXT_KEY)


def is_verified(user: object) -> bool:
    """True when OTPMiddleware found a confirmed device that verified this session."""
    return getattr(user, "otp_device", None) is not None


def needs_second_factor(user: User) -> bool:
    """Staff and superusers may do nothing before a device has verified their session."""
    return (user.is_staff or user.is_superuser) and not is_verified(user)


def may_enrol_at_will(user: User) -> bool:
    """
    Reporters may set up an authenticator whenever they like. Staff may only once a
    device has verified this session (to move to a new phone); otherwise they need an
    enrolment link, because their password alone must not decide who owns their
    second factor.
    """
    return not (user.is_staff or user.is_superuser) or is_verified(user)


def enrolment_begin(request: HttpRequest, *, device: TOTPDevice) -> None:
    request.session[ENROLMENT_DEVICE_KEY] = device.pk


def enrolment_device(request: HttpRequest, user: User) -> TOTPDevice | None:
    """The unconfirmed authenticator this session started for `user`, if any."""
    device_id = request.session.get(ENROLMENT_DEVICE_KEY)
    if device_id is None:
        return None
    return TOTPDevice.objects.devices_for_user(user, confirmed=False).filter(pk=device_id).first()


def begin(request: HttpRequest, *, user: User, redirect_to: str) -> None:
    """Remember a user whose password was right and who still owes a code."""
    clear(request)
    request.session.cycle_key()
    request.session[PENDING_USER_KEY] = user.pk
    request.session[PENDING_BACKEND_KEY] = getattr(user, "backend", settings.AUTHENTICATION_BACKENDS[-1])
    request.session[PENDING_HASH_KEY] = user.get_session_auth_hash()
    request.session[PENDING_SINCE_KEY] = time.time()
    request.session[PENDING_NEXT_KEY] = redirect_to


def pending_user(request: HttpRequest) -> User | None:
    """
    The user who gave the right password in this session and still owes a code, or
    None when there is none, it is older than SIGN_IN_CODE_TIMEOUT, or the password
    changed in between (a reset must not let an earlier half sign-in finish).
    """
    user_id = request.session.get(PENDING_USER_KEY)
    since = request.session.get(PENDING_SINCE_KEY, 0)
    if user_id is None or time.time() - since > settings.SIGN_IN_CODE_TIMEOUT:
        return None
    user = User.objects.filter(pk=user_id, is_active=True).first()
    if user is None or not constant_time_compare(request.session.get(PENDING_HASH_KEY, ""), user.get_session_auth_hash()):
        return None
    return user


def pending_redirect(request: HttpRequest) -> str:
    return request.session.get(PENDING_NEXT_KEY) or settings.LOGIN_REDIRECT_URL


def clear(request: HttpRequest) -> None:
    for key in PENDING_KEYS:
        request.session.pop(key, None)


def complete(request: HttpRequest, *, user: User, device: Device) -> None:
    """
    Finish the sign-in with the device that accepted the code. A half-signed-in
    visitor is signed in now (Django's `login()` cycles the key of a session that has
    no user yet); a user already signed in but not verified gets a fresh key here,
    because `login()` would keep theirs.
    """
    backend = request.session.get(PENDING_BACKEND_KEY)
    clear(request)
    request.session.pop(ENROLMENT_DEVICE_KEY, None)
    if request.user.is_authenticated and request.user.pk == user.pk:
        request.session.cycle_key()
    else:
        login(request, user, backend=backend)
    otp_login(request, device)
