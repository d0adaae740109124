from __future__ import annotations

import zoneinfo
from functools import cache

from django.contrib.auth.models import AbstractUser
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone

from common.text import clean_plain_text


@cache
def time_zone_names() -> tuple[str, ...]:
    """The IANA zone names this machine knows, sorted for a select box."""
    return tuple(sorted(zoneinfo.available_timezones()))


def validate_time_zone(value: str) -> None:
    if value and value not in time_zone_names():
        raise ValidationError("“%(value)s” is not a known time zone.", params={"value": value})


# What names a person on a page (User.__str__ and incidents.names): the fields a list loads.
PERSON_NAME_FIELDS = ("username", "first_name", "last_name")


def name_fields(relation: str) -> list[str]:
    """The fields to load through `relation` (a foreign key to a user) to name the person, for only()."""
    return [f"{relation}__{field}" for field in PERSON_NAME_FIELDS]


class User(AbstractUser):
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

    def clean(self) -> None:
        """Names are shown on every page an incident appears on: plain text only, as titles are."""
        super().clean()
        self.first_name = clean_plain_text(self.first_name)
        self.last_name = clean_plain_text(self.last_name)

    def __str__(self) -> str:
        return self.get_full_name() or self.username


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
