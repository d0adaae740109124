from __future__ import annotations

import hashlib
import re
import secrets
import zoneinfo
from base64 import b32encode
from functools import cache

from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone
from django.utils.crypto import constant_time_compare, salted_hmac
from django_otp.models import Device, ThrottlingMixin, TimestampMixin

from common.text import clean_plain_text


@cache
def time_zone_names() -> tuple[str, ...]:
    """The IANA zone names this machine knows, sorted for a select box."""
    return tuple(sorted(zoneinfo.available_timezones()))


def validate_time_zone(value: str) -> None:
    if value and value not in time_zone_names():
        raise ValidationError("“%(value)s” is not a known time zone.", params={"value": value})


# What names a person on a page (User.__str__, display_name): the fields a list loads.
PERSON_NAME_FIELDS = ("first_name", "last_name", "is_staff")


def display_name(*, pk: int, first_name: str, last_name: str, is_staff: bool) -> str:
    """
    How a person is named to others: their full name, else their role and number, never
    their login name. A login name is half of a password guess, and shown to every
    reporter it let anyone aim the sign-in lockout at a named responder.
    """
    full_name = f"{first_name} {last_name}".strip()
    return full_name or f"{'Responder' if is_staff else 'User'} #{pk}"


def name_fields(relation: str) -> list[str]:
    """The fields to load through `relation` (a foreign key to a user) to name the person, for only()."""
    return [f"{relation}__{field}" for field in PERSON_NAME_FIELDS]


# django-otp is untyped, so the stubs cannot name the reverse manager BackupCodeDevice adds here.
class User(AbstractUser):  # type: ignore[django-manager-missing]
    """
    The one user model of the product, swapped in from the first migration so that
    fields can be added later without a painful migration. Staff users are responders;
    superusers are administrators; everyone else is a reporter.

    The preferences live on the user row itself because every request already loads
    it: the time zone middleware and the mail rules need no extra query.
    """

    # Blank means the site's TIME_ZONE, so changing the site default moves everyone who never chose.
    time_zone = models.CharField(max_length=64, blank=True, validators=[validate_time_zone])
    notify_assigned = models.BooleanField("e-mail me when an incident is assigned to me", default=True)
    notify_status = models.BooleanField("e-mail me when the status of an incident I reported changes", default=True)
    notify_comments = models.BooleanField("e-mail me about new comments on incidents I reported", default=True)
    # An account that an alert integration acts through (api.models.AlertIntegration): it
    # has no usable password, so nobody signs in as it, and it may move the incidents it
    # reported itself through the workflow (a resolved alert resolves its incident).
    is_service_account = models.BooleanField(default=False, editable=False)
    notify_major = models.BooleanField("e-mail me about every incident reported as, or raised to, SEV1 or SEV2 (responders)",
                                       default=True)
    # Raised to end every session at once without a new password (turning on two-factor
    # sign-in does): it is part of the hash each session was signed in with.
    sessions_generation = models.PositiveIntegerField(default=0, editable=False)

    def clean(self) -> None:
        """Names are shown on every page an incident appears on: plain text only, as titles are."""
        super().clean()
        self.first_name = clean_plain_text(self.first_name)
        self.last_name = clean_plain_text(self.last_name)

    def __str__(self) -> str:
        return display_name(pk=self.pk, first_name=self.first_name, last_name=self.last_name, is_staff=self.is_staff)

    def _get_session_auth_hash(self, secret: str | None = None) -> str:
        """
        Django's hash of the password, which every session keeps and every request
        compares, mixed with sessions_generation once it is raised: a session signed in
        before no longer matches. Generation 0 gives Django's own hash, so raising it
        first is what ends sessions, not this code's arrival.
        """
        hashed: str = super()._get_session_auth_hash(secret=secret)  # type: ignore[misc]  # not in the stubs
        if not self.sessions_generation:
            return hashed
        return salted_hmac("accounts.User.sessions_generation", f"{hashed}:{self.sessions_generation}",
                           secret=secret, algorithm="sha256").hexdigest()


class TokenScope(models.TextChoices):
    READ = "read", "Read only"
    READ_WRITE = "read_write", "Read and write"


class ApiTokenQuerySet(models.QuerySet["ApiToken"]):
    def usable(self) -> ApiTokenQuerySet:
        """Tokens that still authenticate: not revoked, not expired, and of an active account."""
        return self.filter(revoked_at__isnull=True, expires_at__gt=timezone.now(), user__is_active=True)


class ApiToken(models.Model):
    """
    A personal access token for the REST API. It acts with its owner's rights, never
    more (a read-only one not even those). Only a SHA-256 digest of the secret is kept:
    the secret is long and random, so the digest alone cannot be guessed back, and a
    lookup by digest needs no per-row work. `prefix` (the secret's first characters)
    lets a person tell their tokens apart without the secret.
    """

    user = models.ForeignKey("accounts.User", on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=80)
    prefix = models.CharField(max_length=12, editable=False)
    digest = models.CharField(max_length=64, unique=True, editable=False)
    scope = models.CharField(max_length=12, choices=TokenScope.choices, default=TokenScope.READ)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    expires_at = models.DateTimeField()
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False)

    objects = ApiTokenQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=models.Q(scope__in=TokenScope.values), name="api_token_scope_valid"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_usable(self) -> bool:
        return self.revoked_at is None and self.expires_at > timezone.now()

    @property
    def can_write(self) -> bool:
        return self.scope == TokenScope.READ_WRITE


class EnrolmentLinkQuerySet(models.QuerySet["EnrolmentLink"]):
    def usable(self) -> EnrolmentLinkQuerySet:
        """Links that have not been used and have not expired."""
        return self.filter(used_at__isnull=True, expires_at__gt=timezone.now())


class EnrolmentLink(models.Model):
    """
    A one-time permission for a staff account to set up its first authenticator (or a
    new one without the old). The password alone never allows that, or whoever learns
    a new or reset staff password first would own the account's second factor. Only
    the SHA-256 of the link's secret is kept, so the table gives no link away.
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="enrolment_links")
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    expires_at = models.DateTimeField(editable=False)
    used_at = models.DateTimeField(null=True, blank=True, editable=False)
    issued_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                  related_name="+", editable=False)

    objects = EnrolmentLinkQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"Enrolment link for {self.user} until {self.expires_at:%Y-%m-%d %H:%M}"


class RateCount(models.Model):
    """
    How many times something limited happened in the current window (password-reset
    requests from an address, major-incident mail from a reporter...), counted in the
    database: a cache may evict a key, and a limit that an attacker can flush by filling
    the cache is no limit. See accounts.limits.
    """

    key = models.CharField(max_length=200, unique=True)
    started_at = models.DateTimeField(db_index=True)
    count = models.PositiveIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.key}: {self.count} since {self.started_at:%Y-%m-%d %H:%M}"


_CODE_SEPARATORS = re.compile(r"[\s-]+")
# Backup codes: 16 characters of base32, 80 random bits, shown as four groups of four.
# That much randomness is what lets a fast hash keep them: no stolen copy of the table can
# be searched back to a code, where the 40 bits of django-otp's static tokens could be.
BACKUP_CODE_BYTES = 10


def normalised_code(token: str) -> str:
    """A code as typed (any case, spaces or dashes between groups) in the one form that is checked."""
    return _CODE_SEPARATORS.sub("", token or "").lower()


def backup_code_digest(token: str) -> str:
    return hashlib.sha256(normalised_code(token).encode()).hexdigest()


def new_backup_code() -> str:
    """A fresh code, never all digits (an all-digit code is read as an authenticator code)."""
    while True:
        code = b32encode(secrets.token_bytes(BACKUP_CODE_BYTES)).decode().lower()
        if not code.isdigit():
            return "-".join(code[i:i + 4] for i in range(0, len(code), 4))


class BackupCodeDevice(TimestampMixin, ThrottlingMixin, Device):
    """
    A user's single-use backup codes, as a django-otp device. Unlike django-otp's
    StaticDevice, which keeps its tokens in plain text, only each code's SHA-256 is
    stored: nobody who can read the database (a backup, an administrator with SQL) can
    read a code back. Wrong codes slow the device down as the authenticator's do.
    """

    def get_throttle_factor(self) -> int:
        return int(getattr(settings, "OTP_STATIC_THROTTLE_FACTOR", 1))

    def verify_token(self, token: object) -> bool:
        """
        Check `token` against every remaining code in constant time (each comparison
        runs, whichever matches), then use the match up with a delete that only one of
        two concurrent requests can win: the code signs in exactly once.
        """
        allowed, _ = self.verify_is_allowed()
        if not allowed:
            return False
        digest = backup_code_digest(str(token))
        matched = None
        for code in self.codes.all():
            if constant_time_compare(code.code_hash, digest):
                matched = code
        used = matched is not None and BackupCode.objects.filter(pk=matched.pk).delete()[0] == 1
        if used:
            self.throttle_reset(commit=False)
            self.set_last_used_timestamp(commit=False)
            self.save()
        else:
            self.throttle_increment()
        return used


class BackupCode(models.Model):
    device = models.ForeignKey(BackupCodeDevice, on_delete=models.CASCADE, related_name="codes")
    code_hash = models.CharField(max_length=64, editable=False)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["device", "code_hash"], name="accounts_backup_code_unique")]

    def __str__(self) -> str:
        return f"Backup code of {self.device}"
