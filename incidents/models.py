from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.contrib.postgres.search import SearchQuery, SearchRank, SearchVectorField
from django.db import connections, models
from django.db.models import F, FloatField, Q, Value
from django.db.models.functions import Cast, Lower
from django.urls import reverse
from django.utils import timezone

from accounts.models import name_fields

from .attachments import RASTER_CONTENT_TYPES
from .search import SEARCH_CONFIG, SORT_ORDERS, tsquery_for
from .workflow import Status

if TYPE_CHECKING:
    from accounts.models import User


class Severity(models.IntegerChoices):
    SEV1 = 1, "SEV1 – critical"
    SEV2 = 2, "SEV2 – high"
    SEV3 = 3, "SEV3 – medium"
    SEV4 = 4, "SEV4 – low"


class Category(models.Model):
    name = models.CharField(max_length=80)
    description = models.TextField(blank=True)
    is_active = models.BooleanField("active", default=True)

    class Meta:
        verbose_name_plural = "categories"
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(Lower("name"), name="category_name_ci_unique",
                                    violation_error_message="A category with this name already exists."),
        ]

    def __str__(self) -> str:
        return self.name


UNRESOLVED = Q(status__in=[Status.OPEN, Status.IN_PROGRESS])
UNASSIGNED = Q(assignee__isnull=True)


# An incident table's columns by their names in .values(): "assignee" is the assignee's id.
TABLE_VALUES = ("id", "title", "severity", "status", "created_at", "updated_at", "category__name", "assignee",
                *name_fields("assignee"))


class IncidentQuerySet(models.QuerySet["Incident"]):
    def visible_to(self, user: User) -> IncidentQuerySet:
        """Responders see every incident; reporters only those they reported."""
        if user.is_staff:
            return self
        return self.filter(reporter=user)

    def for_list(self) -> IncidentQuerySet:
        """With the related rows a page shows, and without the search document no page shows."""
        return self.select_related("category", "reporter", "assignee", "acknowledged_by").defer("search_vector")

    def for_page(self) -> IncidentQuerySet:
        """
        One incident as its page shows it: every column but the search document, the
        category's name and only the names of the people it names (and whether the
        reporter is an alert integration). The users' other columns, three times over,
        were most of the columns the page's queries compiled and loaded. Its escalation's
        id comes along, so that the page asks for pages only where on-call paged someone.
        """
        own = [field.name for field in self.model._meta.concrete_fields if field.name != "search_vector"]
        return self.select_related("category", "reporter", "assignee", "acknowledged_by", "escalation").only(
            *own, "category__name", *name_fields("reporter"), "reporter__is_service_account", *name_fields("assignee"),
            *name_fields("acknowledged_by"), "escalation__id",
        )

    def table_values(self, *also: str) -> models.QuerySet[Incident, dict[str, Any]]:
        """
        What an incident table shows (TABLE_VALUES) and the annotations named in `also`,
        as dicts: compiling the query and loading its rows costs half what building the
        incidents with their category and assignee does (docs/performance.md, "Pages in
        process").
        """
        return self.values(*TABLE_VALUES, *also)

    def matching(self, filters: Mapping[str, Any], *, user: User) -> IncidentQuerySet:
        """The incidents the list's validated filters and search select (see IncidentFilterForm), in no order."""
        filtered = self.filtered(filters, user=user)
        return filtered.search(filters["q"]) if "q" in filters else filtered

    def filtered(self, filters: Mapping[str, Any], *, user: User) -> IncidentQuerySet:
        """The incidents the list's validated filters other than the search select, in no order."""
        queryset = self
        for name in ("status", "severity", "category"):
            if name in filters:
                queryset = queryset.filter(**{name: filters[name]})
        assignee = filters.get("assignee")
        if assignee == "me":
            queryset = queryset.filter(assignee=user)
        elif assignee == "none":
            queryset = queryset.filter(assignee__isnull=True)
        elif assignee:
            queryset = queryset.filter(assignee_id=int(assignee))
        return queryset

    def in_list_order(self, sort: str) -> IncidentQuerySet:
        """
        These incidents in one of the list's orders (SORT_ORDERS). "relevance" ranks every
        one of them: a search's pages bound it to its newest matches (search.search_page).
        """
        return self.order_by(*SORT_ORDERS[sort])

    def search(self, text: str) -> IncidentQuerySet:
        """
        Incidents matching what a user typed, annotated with `rank` (higher is more
        relevant): full-text on PostgreSQL (see incidents/search.py); a substring match
        on title and description elsewhere, where every match ranks the same.
        """
        if connections[self.db].vendor != "postgresql":
            matches = self.filter(Q(title__icontains=text) | Q(description__icontains=text))
            return matches.annotate(rank=Value(0.0, output_field=FloatField()))
        tsquery = tsquery_for(text)
        if tsquery is None:
            return self.none().annotate(rank=Value(0.0, output_field=FloatField()))
        query = SearchQuery(tsquery, search_type="raw", config=SEARCH_CONFIG)
        # ts_rank gives a single-precision float, which does not survive the trip to Python
        # and back as a page cursor; in double precision it does, exactly.
        rank = Cast(SearchRank(F("search_vector"), query), FloatField())
        return self.filter(search_vector=query).annotate(rank=rank)


class Incident(models.Model):
    title = models.CharField(max_length=200)
    description = models.TextField()
    # The foreign keys get no index of their own: each leads a composite index in Meta.
    category = models.ForeignKey(
        Category, on_delete=models.PROTECT, related_name="incidents", null=True, blank=True, db_index=False
    )
    severity = models.PositiveSmallIntegerField(choices=Severity.choices, default=Severity.SEV3)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.OPEN)
    reporter = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="reported_incidents", db_index=False
    )
    # Only active responders: the admin's form and its autocomplete offer and accept no one else.
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, related_name="assigned_incidents", null=True, blank=True,
        db_index=False, limit_choices_to={"is_staff": True, "is_active": True},
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)
    acknowledged_at = models.DateTimeField(null=True, blank=True, editable=False)
    acknowledged_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                        related_name="+", editable=False)
    resolved_at = models.DateTimeField(null=True, blank=True, editable=False)
    closed_at = models.DateTimeField(null=True, blank=True, editable=False)
    # Optimistic locking: every write bumps it, and a write based on an older value is refused.
    version = models.PositiveIntegerField(default=1, editable=False)
    # The report form's one-time token: submitting the same form twice finds this incident.
    submission_token = models.UUIDField(null=True, blank=True, editable=False)
    # Full-text search document (title, description, public comments). PostgreSQL keeps it
    # current with triggers (see migration 0002 and incidents/search.py); on SQLite it stays
    # empty and search falls back to substring matching.
    search_vector = SearchVectorField(null=True, editable=False)

    objects = IncidentQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=Q(status__in=Status.values), name="incident_status_valid"),
            models.CheckConstraint(condition=Q(severity__in=Severity.values), name="incident_severity_valid"),
            models.CheckConstraint(
                condition=Q(status=Status.CLOSED, closed_at__isnull=False)
                | (~Q(status=Status.CLOSED) & Q(closed_at__isnull=True)),
                name="incident_closed_at_iff_closed",
            ),
            models.CheckConstraint(
                condition=~Q(status__in=[Status.RESOLVED, Status.CLOSED]) | Q(resolved_at__isnull=False),
                name="incident_resolved_has_resolved_at",
            ),
            models.UniqueConstraint(fields=["reporter", "submission_token"], name="incident_submission_once"),
        ]
        # One index per filter and sort the list offers, so every page is an index range
        # scan that stops after a page of rows (see docs/performance.md). The sorts are
        # newest/oldest (created_at, id), most severe first (severity, created_at, id) and
        # recently updated (updated_at, id); the filters are status, severity, category,
        # assignee and, for reporters, their own incidents.
        indexes = [
            models.Index(fields=["-created_at", "-id"], name="incident_created_idx"),
            models.Index(fields=["-updated_at", "-id"], name="incident_updated_idx"),
            models.Index(fields=["status", "-created_at", "-id"], name="incident_status_idx"),
            models.Index(fields=["status", "severity", "-created_at", "-id"], name="incident_status_sev_idx"),
            models.Index(fields=["status", "-updated_at", "-id"], name="incident_status_upd_idx"),
            models.Index(fields=["severity", "-created_at", "-id"], name="incident_severity_idx"),
            models.Index(fields=["severity", "-updated_at", "-id"], name="incident_severity_upd_idx"),
            models.Index(fields=["category", "-created_at", "-id"], name="incident_category_idx"),
            models.Index(fields=["category", "severity", "-created_at", "-id"], name="incident_category_sev_idx"),
            models.Index(fields=["category", "-updated_at", "-id"], name="incident_category_upd_idx"),
            models.Index(fields=["assignee", "-created_at", "-id"], name="incident_assignee_idx"),
            models.Index(fields=["assignee", "severity", "-created_at", "-id"], name="incident_assignee_sev_idx"),
            models.Index(fields=["assignee", "-updated_at", "-id"], name="incident_assignee_upd_idx"),
            models.Index(fields=["reporter", "-created_at", "-id"], name="incident_reporter_idx"),
            models.Index(fields=["reporter", "severity", "-created_at", "-id"], name="incident_reporter_sev_idx"),
            models.Index(fields=["reporter", "-updated_at", "-id"], name="incident_reporter_upd_idx"),
            # "Unassigned" needs its own: PostgreSQL reads rows in index order after an
            # equality on the leading column, not after IS NULL. Partial, so small.
            models.Index(fields=["-created_at", "-id"], name="incident_unassigned_idx", condition=UNASSIGNED),
            models.Index(fields=["severity", "-created_at", "-id"], name="incident_unassigned_sev_idx",
                         condition=UNASSIGNED),
            models.Index(fields=["-updated_at", "-id"], name="incident_unassigned_upd_idx", condition=UNASSIGNED),
            # The dashboard's queues, most urgent first: only unresolved incidents, a small slice.
            models.Index(fields=["assignee", "severity", "created_at", "id"], name="incident_queue_idx",
                         condition=UNRESOLVED),
            models.Index(fields=["severity", "created_at", "id"], name="incident_unassigned_queue_idx",
                         condition=UNRESOLVED & UNASSIGNED),
            # The dashboard's last 30 days (response times, incidents per day): read from the
            # index alone on PostgreSQL, without visiting the rows.
            models.Index(fields=["created_at"], include=["severity", "acknowledged_at", "resolved_at"],
                         name="incident_figures_idx"),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.title}"

    def get_absolute_url(self) -> str:
        return reverse("incidents:detail", args=[self.pk])

    @property
    def is_open(self) -> bool:
        return self.status == Status.OPEN


class IncidentCount(models.Model):
    """
    How many incidents have each severity and status: the dashboard's grid. Database
    triggers (migration 0005) keep it in the same transaction as every insert, update
    and delete on the incident table, whatever the writer (services, the admin, bulk
    loads, SQL), so it is exact at every moment and the grid reads 16 rows instead of
    every incident. Nothing in the application writes it.
    """

    severity = models.PositiveSmallIntegerField(choices=Severity.choices)
    status = models.CharField(max_length=20, choices=Status.choices)
    total = models.BigIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["severity", "status"], name="incident_count_unique")]

    def __str__(self) -> str:
        return f"{self.get_severity_display()}, {self.get_status_display()}: {self.total}"


class CommentQuerySet(models.QuerySet["Comment"]):
    def visible_to(self, user: User) -> CommentQuerySet:
        """Internal notes are for responders only."""
        if user.is_staff:
            return self
        return self.filter(internal=False)


class Comment(models.Model):
    # Indexed by comment_incident_idx, which leads with it.
    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="comments", db_index=False)
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="comments")
    body = models.TextField()
    internal = models.BooleanField(default=False, help_text="Internal notes are visible to responders only.")
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    objects = CommentQuerySet.as_manager()

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [
            models.Index(fields=["incident", "created_at"], name="comment_incident_idx"),
            # The admin's list, newest first, and its date filter. On PostgreSQL a trigram
            # index on the body (migration 0005) serves the admin's search.
            models.Index(fields=["-created_at", "-id"], name="comment_created_idx"),
        ]

    def __str__(self) -> str:
        return f"Comment #{self.pk} on incident #{self.incident_id}"


class AttachmentQuerySet(models.QuerySet["Attachment"]):
    def visible_to(self, user: User) -> AttachmentQuerySet:
        """The attachments of the incidents `user` may see, less those of internal notes for anyone but responders."""
        if user.is_staff:
            return self
        return self.filter(incident__in=Incident.objects.visible_to(user)).exclude(comment__internal=True)


class Attachment(models.Model):
    """
    A file attached to an incident, when it was reported or with a comment (then it is
    as internal as its comment). The bytes are in STORAGES["default"] under
    `stored_name`, a random name (incidents/attachments.py); `name` is the cleaned name
    the uploader gave it, for display only. Written only by incidents.services.
    """

    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="attachments")
    comment = models.ForeignKey(Comment, on_delete=models.CASCADE, related_name="attachments", null=True, blank=True)
    uploaded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    stored_name = models.CharField(max_length=255, unique=True, editable=False)
    name = models.CharField(max_length=255, editable=False)
    content_type = models.CharField(max_length=100, editable=False)
    size = models.PositiveBigIntegerField(editable=False)
    sha256 = models.CharField("SHA-256", max_length=64, editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    objects = AttachmentQuerySet.as_manager()

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("incidents:attachment", args=[self.incident_id, self.pk])

    @property
    def is_raster_image(self) -> bool:
        """Only these may be shown inline (as thumbnails); everything else is only ever downloaded."""
        return self.content_type in RASTER_CONTENT_TYPES

    def description(self) -> dict[str, Any]:
        """What the audit trail keeps of it, also after it is removed."""
        return {"name": self.name, "sha256": self.sha256, "size": self.size, "type": self.content_type}
