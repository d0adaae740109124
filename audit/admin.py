import json

from django.contrib import admin
from django.db.models import Model, QuerySet
from django.http import HttpRequest
from django.utils.html import format_html

from common.paging import CappedCountPaginator

from .models import AuditLog, SignInFailureWindow

# The kinds of record the log names as targets.
_target_models: list[type[Model]] = []


def register_target_models(*models: type[Model]) -> None:
    """
    For the admin modules of the apps whose records are audited (Django imports them all
    at start-up): offer `models` in the log's target type filter. The apps name their own
    models, so this app imports none of them.
    """
    _target_models.extend(model for model in models if model not in _target_models)


class TargetTypeFilter(admin.SimpleListFilter):
    """Fixed choices: listing the distinct values would read the whole table on every page view."""

    title = "target type"
    parameter_name = "target_type"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        choices = [(model._meta.label_lower, str(model._meta.verbose_name).capitalize()) for model in _target_models]
        return sorted(choices, key=lambda choice: choice[1])

    def queryset(self, request: HttpRequest, queryset: QuerySet[AuditLog]) -> QuerySet[AuditLog]:
        return queryset.filter(target_type=self.value()) if self.value() else queryset


class ReadOnlyAdmin(admin.ModelAdmin):
    """For records nobody may add, change or delete through the admin: they can only be looked at."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False


class ReadOnlyInline(admin.TabularInline):
    """The rows that make up a read-only record (a delivery's tries, an escalation's pages), shown, never edited."""

    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False


@admin.register(AuditLog)
class AuditLogAdmin(ReadOnlyAdmin):
    """
    Read-only: the log is append-only, so the admin can look but never add, change or
    delete, one row or in bulk (there are no actions at all).
    """

    list_display = ("sequence", "created_at", "actor_username", "action", "target_type", "target_label", "ip_address")
    # No date_hierarchy: it reads every row's date to draw itself; the date filter does not.
    list_filter = (
        "action",
        ("actor", admin.RelatedFieldListFilter),
        TargetTypeFilter,
        ("created_at", admin.DateFieldListFilter),
    )
    search_fields = ("actor_username", "target_label", "target_id", "ip_address")
    # Newest first on the sequence's unique index, and a count that stops at a cap
    # (common.paging): the log grows without bound.
    ordering = ("-sequence",)
    paginator = CappedCountPaginator
    show_full_result_count = False
    actions = None
    fields = (
        "sequence", "created_at", "actor_username", "actor_id", "action", "target_type", "target_id", "target_label",
        "changes_display", "ip_address", "user_agent", "via", "previous_hash", "entry_hash",
    )
    readonly_fields = fields

    @admin.display(description="changes")
    def changes_display(self, obj: AuditLog) -> str:
        return format_html("<pre>{}</pre>", json.dumps(obj.changes, indent=2, sort_keys=True, ensure_ascii=False))


@admin.register(SignInFailureWindow)
class SignInFailureWindowAdmin(ReadOnlyAdmin):
    """How many failed sign-ins each account or address had per window; the log has one row per window."""

    list_display = ("window_start", "action", "key", "failures", "last_at")
    list_filter = ("action", ("window_start", admin.DateFieldListFilter))
    search_fields = ("key",)
    ordering = ("-window_start",)
    paginator = CappedCountPaginator
    show_full_result_count = False
    actions = None
