"""
Limits at sign-in beyond django-axes' own lockout.

The lockout (django-axes) counts wrong passwords per username-and-address pair, so that
a reporter typing five wrong passwords for a responder's account locks out only
themself, not the responder everywhere. Two more limits work on axes' rows (in the
database every app process shares):

* **Per account, from anywhere:** once an account has had AXES_FAILURE_LIMIT wrong
  passwords within the cool-off, each further attempt must wait 1, 2, 4... seconds after
  the last failure, up to SIGN_IN_MAX_DELAY_SECONDS. An attempt made too early is refused
  before the password is checked, and is not counted. A client that signed in to that
  account before (it holds the account's known-device cookie, OWASP's "device cookies")
  does not wait: an attacker who keeps the account's delay running from a few addresses
  cannot keep its owner out.
* **Per address, for any accounts:** SIGN_IN_ADDRESS_FAILURE_LIMIT wrong passwords,
  far more than the pair limit, so that five typos behind an office NAT do not lock out
  everyone behind it, while spraying one password over many accounts still stops.

A correct password clears every count the account has, from every address.
"""
from __future__ import annotations

import math
import secrets

from axes.helpers import get_cool_off
from axes.models import AccessAttempt
from django.conf import settings
from django.core import signing
from django.db.models import Max, QuerySet, Sum
from django.http import HttpRequest, HttpResponse
from django.utils import timezone

from .models import User

DEVICE_COOKIE = "known_device"
DEVICE_COOKIE_SALT = "accounts.delays.known_device"


def _recent(attempts: QuerySet[AccessAttempt]) -> QuerySet[AccessAttempt]:
    cool_off = get_cool_off()
    return attempts if cool_off is None else attempts.filter(attempt_time__gte=timezone.now() - cool_off)


def sign_in_wait_seconds(username: str) -> int:
    """Seconds before `username` may try a password again; 0 when it may now."""
    if not username or "\x00" in username:
        # No account has such a name (PostgreSQL cannot even compare it); the password check refuses it.
        return 0
    totals = _recent(AccessAttempt.objects.filter(username=username)).aggregate(
        failures=Sum("failures_since_start"), last=Max("attempt_time"))
    excess = (totals["failures"] or 0) - settings.AXES_FAILURE_LIMIT
    if excess < 0 or totals["last"] is None:
        return 0
    delay = min(2 ** excess, settings.SIGN_IN_MAX_DELAY_SECONDS)
    remaining = delay - (timezone.now() - totals["last"]).total_seconds()
    return max(0, math.ceil(remaining))


def address_locked(address: str | None) -> bool:
    """Whether `address` has had SIGN_IN_ADDRESS_FAILURE_LIMIT wrong passwords (any accounts) within the cool-off."""
    if address is None:
        return False
    failures = _recent(AccessAttempt.objects.filter(ip_address=address)).aggregate(
        failures=Sum("failures_since_start"))["failures"] or 0
    return failures >= settings.SIGN_IN_ADDRESS_FAILURE_LIMIT


def is_known_device(request: HttpRequest, username: str) -> bool:
    """Whether the client holds a known-device cookie that this site signed for `username`."""
    try:
        value = signing.loads(request.COOKIES.get(DEVICE_COOKIE, ""), salt=DEVICE_COOKIE_SALT,
                              max_age=settings.SIGN_IN_DEVICE_COOKIE_DAYS * 86400)
    except signing.BadSignature:
        return False
    return isinstance(value, dict) and value.get("username") == username


def sign_in_succeeded(response: HttpResponse, user: User) -> None:
    """
    After a correct password: clear every count the account has (from every address),
    and give the client a known-device cookie for the account, renewed at each sign-in.
    """
    AccessAttempt.objects.filter(username=user.get_username()).delete()
    value = signing.dumps({"username": user.get_username(), "nonce": secrets.token_hex(8)}, salt=DEVICE_COOKIE_SALT)
    response.set_cookie(DEVICE_COOKIE, value, max_age=settings.SIGN_IN_DEVICE_COOKIE_DAYS * 86400,
                        secure=settings.SESSION_COOKIE_SECURE, httponly=True, samesite="Lax")
