"""
Subscriptions (webhooks and chat channels) and the delivery log. Every change goes through
outbound.services (audited); a new subscription's secret is shown once, in the message
after saving. The log is read-only, with "retry now" for what failed or died.
"""
from __future__ import annotations


from django.contrib import admin, messages
from django.contrib.auth.base_user import AbstractBaseUser
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.forms import ModelForm
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html

from audit.admin import ReadOnlyAdmin, ReadOnlyInline, register_target_models

from .forms import SubscriptionForm
from .models import Attempt, Delivery, Status, Subscription
from .services import delivery_retry, subscription_create, subscription_delete, subscription_test, subscription_update

register_target_models(Subscription, Delivery)


def _actor(request: HttpRequest) -> AbstractBaseUser:
    if not isinstance(request.user, AbstractBaseUser):
        raise PermissionDenied("Sign-in required.")
    return request.user


@admin.register(Subscription)
class SubscriptionAdmin(admin.ModelAdmin):
    form = SubscriptionForm
    list_display = ("name", "format", "url", "is_active", "owner", "failing_since", "delivery_log")
    list_filter = ("format", "is_active")
    list_select_related = ("owner",)
    search_fields = ("name", "url")
    readonly_fields = ("owner", "chat_handle", "disabled_reason", "failing_since", "created_at")
    actions = ["send_test_event"]

    def has_change_permission(self, request: HttpRequest, obj: Subscription | None = None) -> bool:
        """A person's own page channel is theirs to change (on their on-call page); here it is shown, or removed."""
        return (obj is None or obj.owner_id is None) and super().has_change_permission(request, obj)

    def save_model(self, request: HttpRequest, obj: Subscription, form: ModelForm, change: bool) -> None:
        values = {name: form.cleaned_data[name] for name in SubscriptionForm.Meta.fields}
        if change:
            subscription_update(obj, actor=_actor(request), **values)
            return
        created = subscription_create(actor=_actor(request), **values)
        obj.pk = created.pk
        messages.warning(request, f"The signing secret of “{created.name}” is {created.secret} — "
                                  "copy it now: it is not shown again.")

    def delete_model(self, request: HttpRequest, obj: Subscription) -> None:
        subscription_delete(obj, actor=_actor(request))

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Subscription]) -> None:
        for subscription in queryset:
            subscription_delete(subscription, actor=_actor(request))

    @admin.display(description="deliveries")
    def delivery_log(self, subscription: Subscription) -> str:
        url = reverse("admin:outbound_delivery_changelist") + f"?subscription__id__exact={subscription.pk}"
        return format_html('<a href="{}">log</a>', url)

    @admin.action(description="Send a test event to the selected subscriptions")
    def send_test_event(self, request: HttpRequest, queryset: QuerySet[Subscription]) -> None:
        for subscription in queryset:
            subscription_test(subscription, actor=_actor(request))
        messages.success(request, f"Test event queued for {len(queryset)} subscription(s): see the delivery log.")


class AttemptInline(ReadOnlyInline):
    model = Attempt
    fields = ("started_at", "duration_ms", "status_code", "error")
    readonly_fields = fields


@admin.register(Delivery)
class DeliveryAdmin(ReadOnlyAdmin):
    """The delivery log: every mail, webhook and chat message, with its tries; dead ones first to look at."""

    list_display = ("created_at", "event", "status", "last_status_code", "attempts", "target", "last_error")
    list_filter = ("status", "channel", "event", "subscription")
    list_select_related = ("subscription",)
    search_fields = ("target", "message_id", "event")
    show_full_result_count = False
    fields = ("message_id", "event", "channel", "subscription", "target", "status", "attempts", "next_attempt_at",
              "last_status_code", "last_error", "created_at", "delivered_at", "payload")
    readonly_fields = fields
    inlines = [AttemptInline]
    actions = ["retry_now"]

    @admin.action(description="Retry now (a delivered one is sent again under a new id)",
                  permissions=["view"])
    def retry_now(self, request: HttpRequest, queryset: QuerySet[Delivery]) -> None:
        for delivery in queryset:
            delivery_retry(delivery, actor=_actor(request))
        dead = sum(1 for delivery in queryset if delivery.status == Status.DEAD)
        messages.success(request, f"{len(queryset)} deliveries queued again ({dead} of them were dead).")
