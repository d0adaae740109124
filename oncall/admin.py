"""
Schedules, rotations, overrides and escalation policies are set up here by
administrators; each schedule's page shows who is on call now and next. Escalations and
their pages are read-only: they are what happened.
"""
from __future__ import annotations

from django.contrib import admin
from django.utils import timezone

from audit.admin import ReadOnlyAdmin, ReadOnlyInline

from .models import (
    CalendarFeed, Escalation, EscalationPolicy, EscalationRule, EscalationStep, Override, Page, Rotation,
    RotationMember, Schedule, SwapRequest,
)
from .schedules import on_call_now


class RotationMemberInline(admin.TabularInline):
    model = RotationMember
    extra = 3


@admin.register(Rotation)
class RotationAdmin(admin.ModelAdmin):
    list_display = ("name", "schedule", "layer", "shift", "handover", "time_zone", "starts_on")
    list_filter = ("schedule",)
    list_select_related = ("schedule",)
    inlines = [RotationMemberInline]


class RotationInline(admin.TabularInline):
    model = Rotation
    extra = 0
    fields = ("name", "layer", "shift", "shift_hours", "starts_on", "handover", "time_zone", "days")
    show_change_link = True


class OverrideInline(admin.TabularInline):
    model = Override
    extra = 1


@admin.register(Schedule)
class ScheduleAdmin(admin.ModelAdmin):
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
class EscalationPolicyAdmin(admin.ModelAdmin):
    list_display = ("name", "repeat")
    search_fields = ("name",)
    inlines = [EscalationStepInline, EscalationRuleInline]


@admin.register(EscalationRule)
class EscalationRuleAdmin(admin.ModelAdmin):
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
