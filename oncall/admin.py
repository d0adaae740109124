"""
Schedules, rotations, overrides and escalation policies are set up here by
administrators; each schedule's page shows who is on call now and next. Every change
goes through oncall.services (as the API's do), so it is audited: a rotation with its
members and a policy with its steps as one change each. Escalations and their pages
are read-only: they are what happened.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib import admin
from django.db.models import Model, QuerySet
from django.forms import BaseInlineFormSet, ModelForm
from django.http import HttpRequest
from django.utils import timezone

from accounts.models import User
from accounts.types import request_user
from audit.admin import ReadOnlyAdmin, ReadOnlyInline, register_target_models

from .models import (
    CalendarFeed, Escalation, EscalationPolicy, EscalationRule, EscalationStep, Override, Page, Rotation,
    RotationMember, Schedule, SwapRequest,
)
from .schedules import on_call_now
from .services import (
    override_delete, override_save, policy_delete, policy_save, rotation_delete, rotation_save, rule_delete, rule_save,
    schedule_delete, schedule_save,
)

register_target_models(Schedule, Rotation, Override, EscalationPolicy, EscalationRule)

# The services that save and delete each kind of record the admin edits, alone or in an inline.
SAVE: dict[type[Model], Callable[..., Any]] = {
    Schedule: schedule_save, Rotation: rotation_save, Override: override_save, EscalationPolicy: policy_save,
    EscalationRule: rule_save,
}
DELETE: dict[type[Model], Callable[..., None]] = {
    Schedule: schedule_delete, Rotation: rotation_delete, Override: override_delete, EscalationPolicy: policy_delete,
    EscalationRule: rule_delete,
}


def kept_rows(formset: BaseInlineFormSet) -> list[dict[str, Any]]:
    """
    The rows an inline of members or steps will hold, ordered by their position. The
    formset is "saved" without writing (so the admin's history message can name what
    changed); the service writes the rows, with the parent, as one audited change.
    """
    formset.save(commit=False)
    rows = [form.cleaned_data for form in formset.forms if form.cleaned_data and form not in formset.deleted_forms]
    return sorted(rows, key=lambda row: row["position"])


class AuditedAdmin(admin.ModelAdmin):
    """Saves and deletes the record, and the records of inlines that stand alone, through their services."""

    def save_model(self, request: HttpRequest, obj: Model, form: ModelForm, change: bool) -> None:
        SAVE[type(obj)](obj, actor=request_user(request))

    def delete_model(self, request: HttpRequest, obj: Model) -> None:
        DELETE[type(obj)](obj, actor=request_user(request))

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        for obj in queryset:
            self.delete_model(request, obj)

    def save_formset(self, request: HttpRequest, form: ModelForm, formset: BaseInlineFormSet, change: bool) -> None:
        formset.save(commit=False)
        for obj in formset.deleted_objects:
            DELETE[type(obj)](obj, actor=request_user(request))
        for obj in [*formset.new_objects, *(obj for obj, _ in formset.changed_objects)]:
            SAVE[type(obj)](obj, actor=request_user(request))


class RotationMemberInline(admin.TabularInline):
    model = RotationMember
    extra = 3


@admin.register(Rotation)
class RotationAdmin(AuditedAdmin):
    list_display = ("name", "schedule", "layer", "shift", "handover", "time_zone", "starts_on")
    list_filter = ("schedule",)
    list_select_related = ("schedule",)
    inlines = [RotationMemberInline]

    def save_model(self, request: HttpRequest, obj: Model, form: ModelForm, change: bool) -> None:
        """Saved in save_related, with its members: one audited change."""

    def save_related(self, request: HttpRequest, form: ModelForm, formsets: list[BaseInlineFormSet], change: bool) -> None:
        [members] = formsets
        people: list[User] = [row["user"] for row in kept_rows(members)]
        rotation_save(form.instance, actor=request_user(request), members=people)


class RotationInline(admin.TabularInline):
    model = Rotation
    extra = 0
    fields = ("name", "layer", "shift", "shift_hours", "starts_on", "handover", "time_zone", "days")
    show_change_link = True


class OverrideInline(admin.TabularInline):
    model = Override
    extra = 1


@admin.register(Schedule)
class ScheduleAdmin(AuditedAdmin):
    list_display = ("name", "on_call", "next_on_call")
    search_fields = ("name",)
    inlines = [RotationInline, OverrideInline]

    def _now(self, schedule: Schedule) -> tuple[str, str]:
        [(_, current, upcoming)] = on_call_now([schedule], at=timezone.now())
        return (f"{current.person} until {current.ends_at:%Y-%m-%d %H:%M} UTC" if current else "nobody",
                f"from {upcoming.starts_at:%Y-%m-%d %H:%M} UTC" if upcoming else "—")

    @admin.display(description="on call now")
    def on_call(self, schedule: Schedule) -> str:
        return self._now(schedule)[0]

    @admin.display(description="next shift")
    def next_on_call(self, schedule: Schedule) -> str:
        return self._now(schedule)[1]


class EscalationStepInline(admin.TabularInline):
    model = EscalationStep
    extra = 2
    fields = ("position", "target", "schedule", "user", "wait_minutes")


class EscalationRuleInline(admin.TabularInline):
    model = EscalationRule
    extra = 1


@admin.register(EscalationPolicy)
class EscalationPolicyAdmin(AuditedAdmin):
    list_display = ("name", "repeat")
    search_fields = ("name",)
    inlines = [EscalationStepInline, EscalationRuleInline]

    def save_model(self, request: HttpRequest, obj: Model, form: ModelForm, change: bool) -> None:
        """Saved in save_related, with its steps: one audited change."""

    def save_related(self, request: HttpRequest, form: ModelForm, formsets: list[BaseInlineFormSet], change: bool) -> None:
        steps, rules = formsets
        policy_save(form.instance, actor=request_user(request), steps=[
            EscalationStep(**{name: row[name] for name in ("target", "schedule", "user", "wait_minutes")})
            for row in kept_rows(steps)])
        self.save_formset(request, form, rules, change)


@admin.register(EscalationRule)
class EscalationRuleAdmin(AuditedAdmin):
    list_display = ("severity", "category", "policy")
    list_select_related = ("category", "policy")


class PageInline(ReadOnlyInline):
    model = Page
    fields = ("sent_at", "user", "round", "step", "channel", "delivery", "link_used_at")
    readonly_fields = fields


@admin.register(Escalation)
class EscalationAdmin(ReadOnlyAdmin):
    list_display = ("subject", "policy", "started_at", "step", "round", "next_at", "stopped_at", "stop_reason")
    list_select_related = ("policy",)
    inlines = [PageInline]


@admin.register(CalendarFeed)
class CalendarFeedAdmin(ReadOnlyAdmin):
    list_display = ("user", "rotated_at")
    list_select_related = ("user",)


@admin.register(SwapRequest)
class SwapRequestAdmin(ReadOnlyAdmin):
    list_display = ("requester", "cover", "schedule", "starts_at", "ends_at", "status")
    list_filter = ("status",)
    list_select_related = ("requester", "cover", "schedule")
