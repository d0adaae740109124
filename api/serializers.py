"""
What the API reads and writes. Input serializers only check shapes and types and refuse
fields they do not know; the rules (who may change what, sanitising, the workflow)
live in incidents.services and incidents.permissions, which the views call.
"""
from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from rest_framework import serializers

from accounts.models import User
from audit.models import AuditLog
from incidents.models import Category, Comment, Incident, Severity
from incidents.services import DESCRIPTION_MAX_LENGTH
from incidents.workflow import Status


class StrictSerializer(serializers.Serializer):
    """Refuses a field it does not define, instead of silently ignoring a misspelt or forbidden one."""

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, dict):
            unknown = sorted(set(data) - set(self.fields))
            if unknown:
                raise serializers.ValidationError({name: ["This field is not accepted here."] for name in unknown})
        return super().to_internal_value(data)


class PersonSerializer(serializers.Serializer):
    """A person as others see them: by display name, never by login name (half of a password guess)."""

    id = serializers.IntegerField(read_only=True)
    name = serializers.CharField(source="__str__", read_only=True)


class DutySerializer(serializers.Serializer):
    person = PersonSerializer(read_only=True)
    starts_at = serializers.DateTimeField(read_only=True)
    ends_at = serializers.DateTimeField(read_only=True)


class OnCallSerializer(serializers.Serializer):
    """One schedule's shift now and the one after it; each null when nobody is on duty."""

    schedule = serializers.CharField(source="schedule.name", read_only=True)
    schedule_id = serializers.IntegerField(source="schedule.pk", read_only=True)
    now = DutySerializer(read_only=True, allow_null=True)
    next = DutySerializer(read_only=True, allow_null=True)


class CategorySerializer(serializers.ModelSerializer):
    class Meta:
        model = Category
        fields = ["id", "name", "description", "is_active"]
        read_only_fields = fields


class IncidentSerializer(serializers.ModelSerializer):
    category = serializers.PrimaryKeyRelatedField(read_only=True, allow_null=True)
    category_name = serializers.CharField(source="category.name", read_only=True, allow_null=True, default=None)
    severity = serializers.ChoiceField(choices=Severity.choices, read_only=True)
    severity_label = serializers.CharField(source="get_severity_display", read_only=True)
    status = serializers.ChoiceField(choices=Status.choices, read_only=True)
    reporter = PersonSerializer(read_only=True)
    assignee = PersonSerializer(read_only=True, allow_null=True)
    acknowledged_by = PersonSerializer(read_only=True, allow_null=True)

    class Meta:
        model = Incident
        fields = ["id", "title", "description", "category", "category_name", "severity", "severity_label", "status",
                  "reporter", "assignee", "created_at", "updated_at", "acknowledged_at", "acknowledged_by", "resolved_at",
                  "closed_at", "version"]
        read_only_fields = fields


class IncidentCreateSerializer(StrictSerializer):
    title = serializers.CharField(max_length=200)
    description = serializers.CharField(max_length=DESCRIPTION_MAX_LENGTH)
    category = serializers.PrimaryKeyRelatedField(queryset=Category.objects.filter(is_active=True), required=False,
                                                  allow_null=True)
    severity = serializers.ChoiceField(choices=Severity.choices, required=False, default=Severity.SEV3)


class IncidentUpdateSerializer(StrictSerializer):
    """The fields of the edit form; the assignee is for responders (the service refuses anyone else)."""

    title = serializers.CharField(max_length=200, required=False)
    description = serializers.CharField(max_length=DESCRIPTION_MAX_LENGTH, required=False)
    category = serializers.PrimaryKeyRelatedField(queryset=Category.objects.all(), required=False, allow_null=True)
    severity = serializers.ChoiceField(choices=Severity.choices, required=False)
    assignee = serializers.PrimaryKeyRelatedField(
        queryset=get_user_model().objects.filter(is_staff=True, is_active=True), required=False, allow_null=True,
        help_text="A responder's user id, or null for nobody.",
    )


class TransitionSerializer(StrictSerializer):
    to = serializers.ChoiceField(choices=Status.choices, help_text="The status to move the incident to.")


class CommentSerializer(serializers.ModelSerializer):
    author = PersonSerializer(read_only=True)

    class Meta:
        model = Comment
        fields = ["id", "author", "body", "internal", "created_at"]
        read_only_fields = fields


class CommentCreateSerializer(StrictSerializer):
    body = serializers.CharField(max_length=20_000)
    internal = serializers.BooleanField(required=False, default=False, help_text="An internal note (responders only).")


class TimelineEntrySerializer(serializers.ModelSerializer):
    actor = serializers.SerializerMethodField(help_text="Who acted, by display name; empty for the system.")
    action_label = serializers.CharField(source="get_action_display", read_only=True)

    class Meta:
        model = AuditLog
        fields = ["created_at", "actor", "action", "action_label", "changes", "via"]
        read_only_fields = fields

    def get_actor(self, entry: AuditLog) -> str:
        # Joined from the user row: the audit row's actor_username is a login name.
        return str(entry.actor) if entry.actor is not None else ""


class MeSerializer(serializers.ModelSerializer):
    name = serializers.CharField(source="__str__", read_only=True)
    role = serializers.SerializerMethodField()
    token = serializers.SerializerMethodField()

    class Meta:
        model = User
        fields = ["id", "name", "email", "role", "time_zone", "token"]
        read_only_fields = fields

    def get_role(self, user: User) -> str:
        return "administrator" if user.is_superuser else "responder" if user.is_staff else "reporter"

    def get_token(self, user: User) -> dict[str, Any] | None:
        token = self.context.get("token")
        if token is None:
            return None
        return {"name": token.name, "scope": token.scope, "expires_at": token.expires_at}


class IncidentPageSerializer(serializers.Serializer):
    """The shape of a list page, for the schema."""

    results = IncidentSerializer(many=True)
    next = serializers.URLField(allow_null=True, help_text="The next page, or null on the last.")
    previous = serializers.URLField(allow_null=True, help_text="The previous page, or null on the first.")


class ProblemSerializer(serializers.Serializer):
    """An error (RFC 9457 problem details)."""

    type = serializers.CharField()
    title = serializers.CharField()
    status = serializers.IntegerField()
    detail = serializers.CharField()
    errors = serializers.DictField(child=serializers.ListField(child=serializers.CharField()), required=False,
                                   help_text="Per-field messages, for invalid input.")
    allowed = serializers.ListField(child=serializers.CharField(), required=False,
                                    help_text="For 409 on a transition: the statuses the incident can move to.")
