"""
Progressive delays per account at sign-in.

The lockout (django-axes) counts wrong passwords per username-and-address pair and per
address, so that a reporter typing five wrong passwords for a responder's account locks
out only themself, not the responder everywhere. What then slows down one account
guessed from many addresses is this: once an account has had AXES_FAILURE_LIMIT wrong
passwords within the cool-off, from anywhere, each further attempt must wait 1, 2, 4...
seconds after the last failure, up to SIGN_IN_MAX_DELAY_SECONDS. An attempt made too early
is refused before the password is checked, and is not counted. The counts are axes' own
rows, in the database every app process shares.
"""
from __future__ import annotations

import math

from axes.helpers import get_cool_off
from axes.models import AccessAttempt
from django.conf import settings
from django.db.models import Max, Sum
from django.utils import timezone


def sign_in_wait_seconds(username: str) -> int:
    """Seconds before `username` may try a password again; 0 when it may now."""
    if not username or "\x00" in username:
        # No account has such a name (PostgreSQL cannot even compare it); the password check refuses it.
        return 0
    recent = AccessAttempt.objects.filter(username=username)
    cool_off = get_cool_off()
    if cool_off is not None:
        recent = recent.filter(attempt_time__gte=timezone.now() - cool_off)
    totals = recent.aggregate(failures=Sum("failures_since_start"), last=Max("attempt_time"))
    excess = (totals["failures"] or 0) - settings.AXES_FAILURE_LIMIT
    if excess < 0 or totals["last"] is None:
        return 0
    delay = min(2 ** excess, settings.SIGN_IN_MAX_DELAY_SECONDS)
    remaining = delay - (timezone.now() - totals["last"]).total_seconds()
    return max(0, math.ceil(remaining))
