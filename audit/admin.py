from django.contrib import admin
from django.http import HttpRequest

from .models import AuditLog


@admin.register(AuditLog)
class AuditLogAdmin(admin.ModelAdmin):
    """Read-only: the log is append-only, so the admin can look but never add, change or delete."""

    list_display = ("sequence", "created_at", "actor_username", "action", "target_type", "target_label", "ip_address")
    list_filter = ("action", "target_type", "created_at")
    search_fields = ("actor_username", "target_label", "target_id")
    date_hierarchy = "created_at"
    show_full_result_count = False
    actions = None

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: AuditLog | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: AuditLog | None = None) -> bool:
        return False
