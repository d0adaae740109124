from __future__ import annotations

from typing import Any, cast

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.forms import ModelForm
from django.http import HttpRequest

from accounts.types import request_user
from audit.admin import register_target_models
from common.paging import CappedCountPaginator
from common.text import clean_plain_text

from .forms import ATTACHMENTS_HELP, MultipleFileField
from .models import Attachment, Category, Comment, Incident, IncidentQuerySet
from .services import (
    EDITABLE_FIELDS,
    StaleIncidentError,
    attachment_add,
    attachment_check,
    attachment_remove,
    category_delete,
    category_save,
    incident_create,
    incident_transition,
    incident_update,
)
from .workflow import Status, path_to

register_target_models(Incident, Category)


class CategoryAdminForm(forms.ModelForm):
    class Meta:
        model = Category
        fields = ("name", "description", "is_active")

    def clean_name(self) -> str:
        """Sanitise before the uniqueness check, so "<b>Network</b>" is refused as a duplicate of "Network"."""
        return clean_plain_text(self.cleaned_data["name"])


@admin.register(Category)
class CategoryAdmin(admin.ModelAdmin):
    form = CategoryAdminForm
    list_display = ("name", "is_active", "description")
    list_filter = ("is_active",)
    search_fields = ("name",)

    def save_model(self, request: HttpRequest, obj: Category, form: ModelForm, change: bool) -> None:
        category_save(obj, actor=request_user(request))

    def delete_model(self, request: HttpRequest, obj: Category) -> None:
        category_delete(obj, actor=request_user(request))

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Category]) -> None:
        for category in queryset:
            category_delete(category, actor=request_user(request))


class CommentInline(admin.TabularInline):
    """Comments are part of the record: shown here, written only from the incident page."""

    model = Comment
    fields = ("created_at", "author", "internal", "body")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def get_queryset(self, request: HttpRequest) -> QuerySet[Comment]:
        """With each author, so a long thread costs one query, not one per comment."""
        return super().get_queryset(request).select_related("author")

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Incident)
class IncidentAdmin(admin.ModelAdmin):
    """
    Triage in bulk and edit through the services, at a million incidents as at ten
    (tests/bench/admin.py measures it). Each filter and the order, newest first, follow
    an index of Incident.Meta; the count stops at a cap (common.paging); a search reads
    the full-text index the site's search reads. There is no date hierarchy: Django draws
    it with a `dates()` aggregate over every matching row. The "created" filter offers
    the ranges people ask for (today, past 7 days, this month, this year) as a range
    read on the created_at index instead.
    """

    list_display = ("id", "title", "status", "severity", "category", "reporter", "assignee", "created_at")
    list_filter = ("status", "severity", "category", "created_at")
    list_select_related = ("category", "reporter", "assignee")
    # Shows the search box; get_search_results searches the whole search document.
    search_fields = ("title",)
    search_help_text = "Words of the title, description or public comments, as the site's search finds them."
    ordering = ("-created_at", "-id")
    paginator = CappedCountPaginator
    show_full_result_count = False
    autocomplete_fields = ("category", "reporter", "assignee")
    readonly_fields = ("status", "version", "created_at", "updated_at", "acknowledged_at", "resolved_at", "closed_at")
    inlines = [CommentInline]
    actions = ["assign_to_me", "close_incidents"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Incident]:
        """Without the search document, which no admin page shows and which is the row's largest column."""
        return super().get_queryset(request).defer("search_vector")

    def get_search_results(self, request: HttpRequest, queryset: QuerySet[Incident],
                           search_term: str) -> tuple[QuerySet[Incident], bool]:
        """Through IncidentQuerySet.search: full-text on PostgreSQL, never a scan of every title."""
        if not search_term:
            return queryset, False
        return cast(IncidentQuerySet, queryset).search(search_term), False

    def has_delete_permission(self, request: HttpRequest, obj: Incident | None = None) -> bool:
        """Incidents are closed, never deleted: their history is the record."""
        return False

    def get_readonly_fields(self, request: HttpRequest, obj: Incident | None = None) -> tuple[str, ...]:
        # The reporter is who reported it; it can be chosen on creation but never rewritten.
        return (*self.readonly_fields, "reporter") if obj else self.readonly_fields

    def save_model(self, request: HttpRequest, obj: Incident, form: ModelForm, change: bool) -> None:
        """Admin writes go through the same services as the site, so they are validated and audited alike."""
        data = form.cleaned_data
        if not change:
            created, _ = incident_create(
                reporter=data["reporter"], actor=request_user(request), title=data["title"], description=data["description"],
                severity=data["severity"], category=data.get("category"),
            )
            if data.get("assignee"):
                created = incident_update(created, actor=request_user(request), expected_version=created.version,
                                          assignee=data["assignee"])
            obj.pk = created.pk
            return
        values = {name: data[name] for name in form.changed_data if name in EDITABLE_FIELDS}
        try:
            incident_update(obj, actor=request_user(request), expected_version=obj.version, **values)
        except StaleIncidentError:
            messages.error(request, "The incident changed while you were editing it; nothing was saved.")

    @admin.action(description="Assign selected incidents to me")
    def assign_to_me(self, request: HttpRequest, queryset: QuerySet[Incident]) -> None:
        me = request_user(request)
        for incident in queryset:
            incident_update(incident, actor=me, expected_version=incident.version, assignee=me)
        messages.success(request, f"{len(queryset)} incident(s) assigned to you.")

    @admin.action(description="Close selected incidents")
    def close_incidents(self, request: HttpRequest, queryset: QuerySet[Incident]) -> None:
        """Walk each incident through the workflow to Closed, so every step is stamped and audited."""
        closed = 0
        for incident in queryset.exclude(status=Status.CLOSED):
            try:
                for transition in path_to(incident.status, Status.CLOSED):
                    incident = incident_transition(incident, actor=request_user(request), name=transition.name)
            except ValidationError as error:
                messages.error(request, f"Incident #{incident.pk}: {' '.join(error.messages)}")
            else:
                closed += 1
        messages.success(request, f"{closed} incident(s) closed.")


@admin.register(Comment)
class CommentAdmin(admin.ModelAdmin):
    """
    Read-only, at half a million comments: newest first on comment_created_idx, the count
    capped (common.paging), no date hierarchy (see IncidentAdmin). A search is Django's
    substring match on the body, served on PostgreSQL by a trigram index (migration
    0005): unlike the incidents' search document, it finds internal notes, and any part
    of a word.
    """

    list_display = ("id", "incident", "author", "internal", "created_at")
    list_filter = ("internal", "created_at")
    list_select_related = ("incident", "author")
    search_fields = ("body",)
    ordering = ("-created_at", "-id")
    paginator = CappedCountPaginator
    show_full_result_count = False
    readonly_fields = ("incident", "author", "body", "internal", "created_at")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Comment | None = None) -> bool:
        return False


class AttachmentAdminForm(forms.ModelForm):
    """Adds one or more files to an incident, or to one of its comments, through attachment_add."""

    attachments = MultipleFileField(label="Files", required=True, help_text=ATTACHMENTS_HELP)

    class Meta:
        model = Attachment
        fields = ("incident", "comment")

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        incident, comment = cleaned.get("incident"), cleaned.get("comment")
        if incident and comment and comment.incident_id != incident.pk:
            self.add_error("comment", "This comment belongs to another incident.")
        if incident and cleaned.get("attachments"):
            try:
                attachment_check(incident, files=cleaned["attachments"])
            except ValidationError as error:
                self.add_error(None, error)
        return cleaned


@admin.register(Attachment)
class AttachmentAdmin(admin.ModelAdmin):
    """
    Files are added and removed through the services (checked, stored, audited like the
    site's); nothing about a stored file can be changed. The files themselves are only
    ever served by the site's download view, which applies who may see them.
    """

    form = AttachmentAdminForm
    list_display = ("id", "name", "incident", "comment", "content_type", "size", "uploaded_by", "created_at")
    list_filter = ("content_type", "created_at")
    list_select_related = ("incident", "comment", "uploaded_by")
    search_fields = ("name", "sha256")
    ordering = ("-created_at", "-id")
    paginator = CappedCountPaginator
    show_full_result_count = False
    autocomplete_fields = ("incident",)
    raw_id_fields = ("comment",)
    readonly_fields = ("name", "content_type", "size", "sha256", "uploaded_by", "created_at")

    def get_fields(self, request: HttpRequest, obj: Attachment | None = None) -> tuple[str, ...]:
        if obj is None:
            return ("incident", "comment", "attachments")
        return ("incident", "comment", *self.readonly_fields)

    def get_readonly_fields(self, request: HttpRequest, obj: Attachment | None = None) -> tuple[str, ...]:
        return ("incident", "comment", *self.readonly_fields) if obj else ()

    def has_change_permission(self, request: HttpRequest, obj: Attachment | None = None) -> bool:
        return False

    def save_model(self, request: HttpRequest, obj: Attachment, form: ModelForm, change: bool) -> None:
        data = form.cleaned_data
        added = attachment_add(data["incident"], actor=request_user(request), files=data["attachments"],
                               comment=data.get("comment"))
        obj.pk, obj.name = added[0].pk, ", ".join(attachment.name for attachment in added)

    def delete_model(self, request: HttpRequest, obj: Attachment) -> None:
        attachment_remove(obj, actor=request_user(request))

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Attachment]) -> None:
        for attachment in queryset.select_related("incident"):
            attachment_remove(attachment, actor=request_user(request))
