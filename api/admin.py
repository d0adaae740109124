from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.forms import ModelForm
from django.http import HttpRequest

from accounts.types import request_user
from audit.admin import register_target_models

from .models import AlertGroup, AlertIntegration
from .services import integration_create, integration_save, integration_secret_rotate

register_target_models(AlertIntegration)

SECRET_SHOWN_ONCE = "Copy it now: it is not shown again."


@admin.register(AlertIntegration)
class AlertIntegrationAdmin(admin.ModelAdmin):
    """Integrations are made and changed here; the secret appears once, in the message after saving or rotating."""

    list_display = ("name", "kind", "prefix", "default_category", "resolve_on_resolved", "is_active", "created_at")
    list_filter = ("kind", "is_active")
    search_fields = ("name",)
    fields = ("name", "kind", "default_category", "severity_label", "severity_map", "default_severity",
              "resolve_on_resolved", "is_active", "prefix", "account", "created_at")
    readonly_fields = ("prefix", "account", "created_at")
    actions = ["rotate_secret"]

    def save_model(self, request: HttpRequest, obj: AlertIntegration, form: ModelForm, change: bool) -> None:
        if change:
            integration_save(obj, actor=request_user(request))
            return
        _, secret = integration_create(obj, actor=request_user(request))
        messages.warning(request, f"The secret of “{obj.name}” is {secret} — {SECRET_SHOWN_ONCE}")

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Its incidents keep naming it as reporter; deactivate it instead.
        return False

    @admin.action(description="Replace the secret of the selected integrations")
    def rotate_secret(self, request: HttpRequest, queryset: QuerySet[AlertIntegration]) -> None:
        for integration in queryset:
            secret = integration_secret_rotate(integration, actor=request_user(request))
            messages.warning(request, f"The new secret of “{integration.name}” is {secret} — {SECRET_SHOWN_ONCE}")


@admin.register(AlertGroup)
class AlertGroupAdmin(admin.ModelAdmin):
    """Read-only: groups change only through alert deliveries."""

    list_display = ("key", "integration", "incident", "is_open", "notifications", "first_received_at", "last_received_at")
    list_filter = ("is_open", "integration")
    list_select_related = ("integration", "incident")
    show_full_result_count = False
    fields = list_display
    readonly_fields = list_display

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
