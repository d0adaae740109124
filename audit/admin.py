import json

from django.contrib import admin
from django.http import HttpRequest
from django.utils.html import format_html

from .models import AuditLog


@admin.register(AuditLog)
class AuditLogAdmin(admin.ModelAdmin):
    """
    Read-only: the log is append-only, so the admin can look but never add, change or
    delete, one row or in bulk (there are no actions at all).
    """

    list_display = ("sequence", "created_at", "actor_username", "action", "target_type", "target_label", "ip_address")
    list_filter = (
        "action",
        ("actor", admin.RelatedFieldListFilter),
        "target_type",
        ("created_at", admin.DateFieldListFilter),
    )
    search_fields = ("actor_username", "target_label", "target_id", "ip_address")
    date_hierarchy = "created_at"
    show_full_result_count = False
    actions = None
    fields = (
        "sequence", "created_at", "actor_username", "actor_id", "action", "target_type", "target_id", "target_label",
        "changes_display", "ip_address", "user_agent", "previous_hash", "entry_hash",
    )
    readonly_fields = fields

    @admin.display(description="changes")
    def changes_display(self, obj: AuditLog) -> str:
        return format_html("<pre>{}</pre>", json.dumps(obj.changes, indent=2, sort_keys=True, ensure_ascii=False))

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: AuditLog | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: AuditLog | None = None) -> bool:
        return False
