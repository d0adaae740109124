"""
Setting up on-call through the API: schedules with their rotations (each with its
members in turn order), overrides per schedule, escalation policies with their ordered
steps, and the rules that choose a policy per category and severity. Responders read,
administrators write. Every write goes through the oncall services the admin uses, so
it is validated as there and recorded in the audit log.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import Model, QuerySet
from django.shortcuts import get_object_or_404
from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field, extend_schema_view
from rest_framework import serializers, status
from rest_framework.exceptions import ValidationError
from rest_framework.permissions import SAFE_METHODS, BasePermission
from rest_framework.request import Request
from rest_framework.response import Response

from incidents.models import Category, Severity
from incidents.pagination import InvalidCursor, keyset_page
from oncall.models import (
    EscalationPolicy, EscalationRule, EscalationStep, Override, Rotation, Schedule, ShiftKind, Target,
)
from oncall.permissions import can_manage_oncall, can_see_oncall
from oncall.services import (
    override_delete, override_save, policy_delete, policy_save, rotation_delete, rotation_save, rule_delete, rule_save,
    schedule_delete, schedule_save,
)

from .problems import Conflict, problem_responses
from .serializers import PersonSerializer, StrictSerializer
from .views import ApiView, page_link

OVERRIDES_PAGE = 50
OVERRIDE_PARAMETERS = {"when", "after", "before"}
# Generous bounds that no real set-up reaches, so a hostile list costs nothing.
MAX_MEMBERS = 200
MAX_STEPS = 50


class OnCallPermission(BasePermission):
    """Responders read; administrators write (a read-only token is refused before this, by TokenScopePermission)."""

    def has_permission(self, request: Request, view: Any) -> bool:
        if request.method in SAFE_METHODS:
            self.message = "On-call set-up is for responders."
            return can_see_oncall(request.user)
        self.message = "Only administrators change on-call schedules, overrides and escalation policies."
        return can_manage_oncall(request.user)


def responder_field(**options: Any) -> serializers.PrimaryKeyRelatedField:
    """A field naming an active responder by user id."""
    return serializers.PrimaryKeyRelatedField(
        queryset=get_user_model().objects.filter(is_staff=True, is_active=True),
        error_messages={"does_not_exist": "No active responder has the id {pk_value}."}, **options)


@extend_schema_field({"type": "string", "pattern": r"^([01]\d|2[0-3]):[0-5]\d(:[0-5]\d)?$", "example": "09:00"})
class WallClockField(serializers.TimeField):
    """
    A local time of day without a zone, "HH:MM": the rotation's `time_zone` says where.
    (OpenAPI's `time` format is RFC 3339's, which demands an offset.)
    """

    def __init__(self, **options: Any) -> None:
        super().__init__(format="%H:%M", input_formats=["%H:%M", "%H:%M:%S"], **options)


# Reading.

class RotationSerializer(serializers.ModelSerializer):
    handover = WallClockField(read_only=True, help_text="Local time of the handover, in the rotation's time zone.")
    days = serializers.ListField(child=serializers.IntegerField(), read_only=True,
                                 help_text="Weekdays its shifts start on (1 = Monday … 7 = Sunday); empty for every day.")
    members = serializers.SerializerMethodField(help_text="The people who take turns, in order.")

    class Meta:
        model = Rotation
        fields = ["id", "schedule", "name", "layer", "shift", "shift_hours", "starts_on", "handover", "time_zone", "days",
                  "members"]
        read_only_fields = fields

    @extend_schema_field(PersonSerializer(many=True))
    def get_members(self, rotation: Rotation) -> list[dict[str, Any]]:
        return PersonSerializer([member.user for member in rotation.members.all()], many=True).data


class ScheduleSerializer(serializers.ModelSerializer):
    rotations = RotationSerializer(many=True, read_only=True, help_text="Its layers, highest first.")

    class Meta:
        model = Schedule
        fields = ["id", "name", "description", "rotations"]
        read_only_fields = fields


class OverrideSerializer(serializers.ModelSerializer):
    user = PersonSerializer(read_only=True, help_text="Who is on call instead.")
    replaces = PersonSerializer(read_only=True, allow_null=True, help_text="Whom they cover; null for whoever is on duty.")

    class Meta:
        model = Override
        fields = ["id", "schedule", "user", "replaces", "starts_at", "ends_at", "created_at"]
        read_only_fields = fields


class OverridePageSerializer(serializers.Serializer):
    results = OverrideSerializer(many=True)
    next = serializers.URLField(allow_null=True, help_text="The next page, or null on the last.")
    previous = serializers.URLField(allow_null=True, help_text="The previous page, or null on the first.")


class StepSerializer(serializers.ModelSerializer):
    user = PersonSerializer(read_only=True, allow_null=True)

    class Meta:
        model = EscalationStep
        fields = ["position", "target", "schedule", "user", "wait_minutes"]
        read_only_fields = fields


class PolicySerializer(serializers.ModelSerializer):
    steps = StepSerializer(many=True, read_only=True, help_text="In the order they run.")

    class Meta:
        model = EscalationPolicy
        fields = ["id", "name", "repeat", "steps"]
        read_only_fields = fields


class RuleSerializer(serializers.ModelSerializer):
    severity = serializers.ChoiceField(choices=Severity.choices, read_only=True)
    category_name = serializers.CharField(source="category.name", read_only=True, allow_null=True, default=None)
    policy_name = serializers.CharField(source="policy.name", read_only=True, allow_null=True, default=None)

    class Meta:
        model = EscalationRule
        fields = ["id", "category", "category_name", "severity", "policy", "policy_name"]
        read_only_fields = fields


# Writing. Only shapes and types here; the rules (and the audit) are the services'.

class ScheduleWriteSerializer(StrictSerializer):
    name = serializers.CharField(max_length=100)
    description = serializers.CharField(max_length=10_000, allow_blank=True, required=False)


class RotationWriteSerializer(StrictSerializer):
    name = serializers.CharField(max_length=100)
    layer = serializers.IntegerField(min_value=0, max_value=32_767, required=False,
                                     help_text="A higher layer wins the hours it covers (default 1).")
    shift = serializers.ChoiceField(choices=ShiftKind.choices, required=False, help_text="Default weekly.")
    shift_hours = serializers.IntegerField(min_value=1, max_value=24 * 28, allow_null=True, required=False,
                                           help_text="For `hours` shifts: the length of one.")
    starts_on = serializers.DateField(help_text="The first shift's day; weekly shifts hand over on its weekday.")
    handover = WallClockField(required=False, help_text="Local time of the handover (default 09:00).")
    time_zone = serializers.CharField(max_length=64, required=False, help_text="An IANA zone (default UTC).")
    days = serializers.ListField(child=serializers.IntegerField(min_value=1, max_value=7), max_length=7, required=False,
                                 help_text="Only shifts starting on these weekdays (1 = Monday … 7 = Sunday); "
                                           "empty for every day.")
    members = serializers.ListField(child=responder_field(), max_length=MAX_MEMBERS, required=False,
                                    help_text="User ids of active responders, in turn order; replaces the members.")


class OverrideWriteSerializer(StrictSerializer):
    user = responder_field(help_text="Who is on call instead.")
    replaces = responder_field(allow_null=True, required=False,
                               help_text="Whom they cover; null (the default) for whoever is on duty.")
    starts_at = serializers.DateTimeField()
    ends_at = serializers.DateTimeField()


class StepWriteSerializer(StrictSerializer):
    target = serializers.ChoiceField(choices=Target.choices)
    schedule = serializers.PrimaryKeyRelatedField(
        queryset=Schedule.objects.all(), allow_null=True, required=False,
        error_messages={"does_not_exist": "No schedule has the id {pk_value}."},
        help_text="For `schedule`: whose on-call is paged.")
    user = responder_field(allow_null=True, required=False, help_text="For `user`: who is paged.")
    wait_minutes = serializers.IntegerField(min_value=1, max_value=24 * 60, required=False,
                                            help_text="Minutes to wait for an acknowledgement (default 5).")


class PolicyWriteSerializer(StrictSerializer):
    name = serializers.CharField(max_length=100)
    repeat = serializers.IntegerField(min_value=0, max_value=10, required=False,
                                      help_text="How many more times the steps run when nobody acknowledges.")
    steps = serializers.ListField(child=StepWriteSerializer(), max_length=MAX_STEPS, required=False,
                                  help_text="In the order they run; replaces the steps.")


class RuleWriteSerializer(StrictSerializer):
    category = serializers.PrimaryKeyRelatedField(
        queryset=Category.objects.all(), allow_null=True, required=False,
        error_messages={"does_not_exist": "No category has the id {pk_value}."},
        help_text="Null (the default) for the default rule of the severity.")
    severity = serializers.ChoiceField(choices=Severity.choices)
    policy = serializers.PrimaryKeyRelatedField(
        queryset=EscalationPolicy.objects.all(), allow_null=True,
        error_messages={"does_not_exist": "No escalation policy has the id {pk_value}."},
        help_text="Null: incidents matching this rule page nobody.")


@dataclass(frozen=True)
class Kind:
    """One kind of record: how it is read, written and removed."""

    noun: str
    rows: Callable[[], QuerySet[Any]]
    read: type[serializers.Serializer]
    write: type[serializers.Serializer]
    save: Callable[..., Any]
    delete: Callable[..., None]


SCHEDULES = Kind("schedule", lambda: Schedule.objects.prefetch_related("rotations__members__user"),
                 ScheduleSerializer, ScheduleWriteSerializer, schedule_save, schedule_delete)
ROTATIONS = Kind("rotation", lambda: Rotation.objects.prefetch_related("members__user"),
                 RotationSerializer, RotationWriteSerializer, rotation_save, rotation_delete)
OVERRIDES = Kind("override", lambda: Override.objects.select_related("user", "replaces"),
                 OverrideSerializer, OverrideWriteSerializer, override_save, override_delete)
POLICIES = Kind("escalation policy", lambda: EscalationPolicy.objects.prefetch_related("steps__user"),
                PolicySerializer, PolicyWriteSerializer, policy_save, policy_delete)
RULES = Kind("escalation rule", lambda: EscalationRule.objects.select_related("category", "policy"),
             RuleSerializer, RuleWriteSerializer, rule_save, rule_delete)


class SetupView(ApiView):
    permission_classes = [*ApiView.permission_classes, OnCallPermission]
    kind: Kind

    def record(self, pk: int, kind: Kind | None = None) -> Any:
        return get_object_or_404((kind or self.kind).rows(), pk=pk)

    def answer(self, record: Model, *, status: int = status.HTTP_200_OK) -> Response:
        """The record as it is now, read again with what it shows."""
        return Response(self.kind.read(self.record(record.pk)).data, status=status)

    def write(self, record: Model, *, partial: bool) -> Response:
        """Apply the request's fields to `record` and save it through its service; 400 and nothing changed if invalid."""
        serializer = self.kind.write(data=self.request.data, partial=partial)
        serializer.is_valid(raise_exception=True)
        values = dict(serializer.validated_data)
        children: dict[str, Any] = {}
        if "members" in values:
            children["members"] = values.pop("members")
        if "steps" in values:
            children["steps"] = [EscalationStep(**step) for step in values.pop("steps")]
        for name, value in values.items():
            setattr(record, name, value)
        saved = self.kind.save(record, actor=self.user, **children)
        return self.answer(saved, status=status.HTTP_200_OK if partial else status.HTTP_201_CREATED)


class DetailView(SetupView):
    def get(self, request: Request, pk: int) -> Response:
        return Response(self.kind.read(self.record(pk)).data)

    def patch(self, request: Request, pk: int) -> Response:
        return self.write(self.record(pk), partial=True)

    def delete(self, request: Request, pk: int) -> Response:
        record = self.record(pk)
        try:
            self.kind.delete(record, actor=self.user)
        except DjangoValidationError as error:
            raise Conflict(" ".join(error.messages)) from error
        return Response(status=status.HTTP_204_NO_CONTENT)


class ListView(SetupView):
    def get(self, request: Request) -> Response:
        return Response(self.kind.read(self.kind.rows(), many=True).data)

    def post(self, request: Request) -> Response:
        return self.write(self.kind.rows().model(), partial=False)


def detail_schema(kind: Kind, *, changes: str, removal: str) -> Callable[[type], type]:
    """The schema of a record's GET, PATCH and DELETE."""
    return extend_schema_view(
        get=extend_schema(summary=f"One {kind.noun}", responses={200: kind.read, **problem_responses(401, 403, 404, 429)}),
        patch=extend_schema(summary=f"Change a {kind.noun}", description=f"Administrators. Send only the fields to "
                                                                         f"change. {changes}",
                            request=kind.write, responses={200: kind.read, **problem_responses(400, 401, 403, 404, 429)}),
        delete=extend_schema(summary=f"Delete a {kind.noun}", description=f"Administrators. {removal}",
                             responses={204: None, **problem_responses(401, 403, 404, 409, 429)}),
    )


def list_schema(kind: Kind, *, segment: str, title: str, creation: str) -> Callable[[type], type]:
    """The schema of a collection's GET and POST (`/oncall/<segment>/`)."""
    return extend_schema_view(
        get=extend_schema(operation_id=f"oncall_{segment}_list", summary=title,
                          description="Responders. Every one: there are as many as an organisation sets up.",
                          responses={200: kind.read(many=True), **problem_responses(401, 403, 429)}),
        post=extend_schema(summary=f"Create a {kind.noun}", description=f"Administrators. {creation}", request=kind.write,
                           responses={201: kind.read, **problem_responses(400, 401, 403, 429)}),
    )


@list_schema(SCHEDULES, segment="schedules", title="Schedules",
             creation="Add rotations at `/oncall/schedules/{id}/rotations/`.")
class ScheduleListView(ListView):
    kind = SCHEDULES


@detail_schema(SCHEDULES, changes="Rotations and overrides are changed at their own addresses.",
               removal="Removes its rotations and overrides too; 409 while an escalation step pages its on-call.")
class ScheduleView(DetailView):
    kind = SCHEDULES


class ScheduleRotationsView(SetupView):
    kind = ROTATIONS

    @extend_schema(operation_id="oncall_schedules_rotations_list", summary="A schedule's rotations",
                   description="Responders. Highest layer first.",
                   responses={200: RotationSerializer(many=True), **problem_responses(401, 403, 404, 429)})
    def get(self, request: Request, pk: int) -> Response:
        schedule = self.record(pk, SCHEDULES)
        return Response(RotationSerializer(schedule.rotations.all(), many=True).data)

    @extend_schema(summary="Add a rotation to a schedule",
                   description="Administrators. `members` are active responders' user ids, in turn order.",
                   request=RotationWriteSerializer,
                   responses={201: RotationSerializer, **problem_responses(400, 401, 403, 404, 429)})
    def post(self, request: Request, pk: int) -> Response:
        return self.write(Rotation(schedule=self.record(pk, SCHEDULES)), partial=False)


@detail_schema(ROTATIONS, changes="`members`, when sent, replaces the whole list (in turn order).",
               removal="Its members go with it.")
class RotationView(DetailView):
    kind = ROTATIONS


class ScheduleOverridesView(SetupView):
    kind = OVERRIDES

    @extend_schema(
        operation_id="oncall_schedules_overrides_list", summary="A schedule's overrides",
        description=f"Responders. {OVERRIDES_PAGE} at a time: follow `next` and `previous`.",
        parameters=[
            OpenApiParameter("when", str, enum=["upcoming", "past", "all"],
                             description="`upcoming` (the default): not ended yet, soonest first; `past`: ended, "
                                         "latest first; `all`: every one, earliest first."),
            OpenApiParameter("after", str, description="Cursor: the page after this one (from `next`)."),
            OpenApiParameter("before", str, description="Cursor: the page before this one (from `previous`)."),
        ],
        responses={200: OverridePageSerializer, **problem_responses(400, 401, 403, 404, 429)})
    def get(self, request: Request, pk: int) -> Response:
        unknown = sorted(set(request.query_params) - OVERRIDE_PARAMETERS)
        if unknown:
            raise ValidationError({name: ["Unknown query parameter."] for name in unknown})
        overrides = self.kind.rows().filter(schedule=self.record(pk, SCHEDULES))
        when, now = request.query_params.get("when", "upcoming"), timezone.now()
        choices = {"upcoming": overrides.filter(ends_at__gt=now).order_by("starts_at", "id"),
                   "past": overrides.filter(ends_at__lte=now).order_by("-starts_at", "-id"),
                   "all": overrides.order_by("starts_at", "id")}
        if when not in choices:
            raise ValidationError({"when": ["Choose upcoming, past or all."]})
        after, before = request.query_params.get("after", ""), request.query_params.get("before", "")
        try:
            page = keyset_page(choices[when], size=OVERRIDES_PAGE, after=after, before=before)
        except InvalidCursor as error:
            raise ValidationError({"after" if after else "before": [
                "This cursor was not made by this list; start again from the first page."]}) from error
        return Response({"results": OverrideSerializer(page.rows, many=True).data,
                         "next": page_link(request, "after", page.next_cursor),
                         "previous": page_link(request, "before", page.previous_cursor)})

    @extend_schema(summary="Add an override to a schedule",
                   description="Administrators. `user` is on call from `starts_at` to `ends_at` in place of "
                               "`replaces` (or of whoever is on duty).",
                   request=OverrideWriteSerializer,
                   responses={201: OverrideSerializer, **problem_responses(400, 401, 403, 404, 429)})
    def post(self, request: Request, pk: int) -> Response:
        return self.write(Override(schedule=self.record(pk, SCHEDULES)), partial=False)


@detail_schema(OVERRIDES, changes="It ends after it starts.", removal="The schedule's rotations decide those hours again.")
class OverrideView(DetailView):
    kind = OVERRIDES


@list_schema(POLICIES, segment="policies", title="Escalation policies", creation="`steps` in the order they run.")
class PolicyListView(ListView):
    kind = POLICIES


@detail_schema(POLICIES, changes="`steps`, when sent, replaces them all; a running escalation goes on at its step "
                                 "number with the new steps.",
               removal="Its steps and rules go with it; 409 while an escalation (even a finished one) names it.")
class PolicyView(DetailView):
    kind = POLICIES


@list_schema(RULES, segment="rules", title="Escalation rules",
             creation="One per category and severity, and one default (no category) per severity.")
class RuleListView(ListView):
    kind = RULES


@detail_schema(RULES, changes="Still one per category and severity.",
               removal="Incidents it matched fall back on the default rule of their severity.")
class RuleView(DetailView):
    kind = RULES
