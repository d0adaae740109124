from __future__ import annotations

import zoneinfo
from functools import cache

from django.conf import settings
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
    notify_major = models.BooleanField("e-mail me about every incident reported as, or raised to, SEV1 or SEV2 (responders)",
                                       default=True)

    def clean(self) -> None:
        """Names are shown on every page an incident appears on: plain text only, as titles are."""
        super().clean()
        self.first_name = clean_plain_text(self.first_name)
        self.last_name = clean_plain_text(self.last_name)

    def __str__(self) -> str:
        return self.get_full_name() or self.username


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
