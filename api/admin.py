from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.contrib import admin, messages
from django.db.models import Count, Q, QuerySet
from django.forms import ModelForm
from django.http import HttpRequest
from django.utils import timezone

from accounts.types import request_user
from audit.admin import ReadOnlyAdmin, register_target_models

from .models import AlertDelivery, AlertGroup, AlertIntegration, DeliveryResult
from .services import DELIVERY_LOG_DAYS, integration_create, integration_save, integration_secret_rotate

register_target_models(AlertIntegration)

SECRET_SHOWN_ONCE = "Copy it now: it is not shown again."


@admin.register(AlertIntegration)
class AlertIntegrationAdmin(admin.ModelAdmin):
    """Integrations are made and changed here; the secret appears once, in the message after saving or rotating."""

    list_display = ("name", "kind", "prefix", "default_category", "is_active", "accepted", "repeated", "resolved",
                    "refused")
    list_filter = ("kind", "is_active")
    search_fields = ("name",)
    fields = ("name", "kind", "default_category", "severity_label", "severity_map", "default_severity",
              "resolve_on_resolved", "reopen_within_minutes", "drop_matchers", "rate_limit_per_minute", "is_active",
              "prefix", "account", "created_at")
    readonly_fields = ("prefix", "account", "created_at")
    actions = ["rotate_secret"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[AlertIntegration]:
        """Each integration with its deliveries of the last DELIVERY_LOG_DAYS counted by result."""
        since = timezone.now() - timedelta(days=DELIVERY_LOG_DAYS)
        return super().get_queryset(request).annotate(**{
            f"{result}_count": Count("deliveries", filter=Q(deliveries__result=result, deliveries__received_at__gte=since))
            for result in DeliveryResult.values
        })

    @admin.display(description=f"accepted ({DELIVERY_LOG_DAYS} days)")
    def accepted(self, obj: Any) -> int:
        return int(obj.accepted_count)

    @admin.display(description="repeated")
    def repeated(self, obj: Any) -> int:
        return int(obj.repeated_count)

    @admin.display(description="resolved")
    def resolved(self, obj: Any) -> int:
        return int(obj.resolved_count)

    @admin.display(description="refused")
    def refused(self, obj: Any) -> int:
        return int(obj.refused_count)

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
class AlertGroupAdmin(ReadOnlyAdmin):
    """Read-only: groups change only through alert deliveries."""

    list_display = ("key", "integration", "incident", "is_open", "notifications", "first_received_at", "last_received_at")
    list_filter = ("is_open", "integration")
    list_select_related = ("integration", "incident")
    show_full_result_count = False
    fields = (*list_display, "truncated_alerts", "group_labels", "external_url", "alerts")
    readonly_fields = fields


@admin.register(AlertDelivery)
class AlertDeliveryAdmin(ReadOnlyAdmin):
    """Read-only: the last DELIVERY_LOG_DAYS of every integration's deliveries, refused ones with why."""

    list_display = ("received_at", "integration", "result", "outcome", "status_code", "alerts", "dropped", "body_bytes",
                    "error_start")
    list_filter = ("result", "integration", "status_code")
    list_select_related = ("integration",)
    search_fields = ("body_digest",)
    date_hierarchy = "received_at"
    show_full_result_count = False
    fields = ("received_at", "integration", "result", "outcome", "status_code", "group", "alerts", "dropped",
              "body_bytes", "body_digest", "error")
    readonly_fields = fields

    @admin.display(description="error")
    def error_start(self, obj: AlertDelivery) -> str:
        return obj.error[:120]
