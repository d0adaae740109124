"""
The alert endpoints: Prometheus Alertmanager's webhook (payload version 4, read as
Alertmanager sends it, new fields included) and a documented generic JSON. Each
authenticates an AlertIntegration by its bearer secret, turns the body into one Alert
and hands it to api.services.alert_receive.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.utils.html import escape
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import serializers, status
from rest_framework.exceptions import PermissionDenied
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.models import User
from common.text import clean_plain_text

from .authentication import SecretAuthentication
from .models import AlertIntegration, IntegrationKind
from .problems import PayloadTooLarge, problem_responses
from .serializers import StrictSerializer
from .services import Alert, alert_receive, digest, integration_authenticate

TITLE_LENGTH = 200


def label_map() -> serializers.DictField:
    """Labels or annotations: names to text (each field needs its own instance)."""
    return serializers.DictField(child=serializers.CharField(allow_blank=True, max_length=10_000), required=False,
                                 default=dict)


class IntegrationTokenAuthentication(SecretAuthentication):
    """An alert integration's secret, `Authorization: Bearer ita_...`: the request acts as its service account."""

    realm = "alerts"
    refusal = "Unknown or inactive integration secret."

    def resolve(self, secret: str) -> tuple[User, AlertIntegration, str] | None:
        integration = integration_authenticate(secret)
        return (integration.account, integration, f"alert integration “{integration.name}”") if integration else None


class AlertmanagerAlertSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=["firing", "resolved"])
    labels = label_map()
    annotations = label_map()
    startsAt = serializers.CharField(required=False, allow_blank=True)
    endsAt = serializers.CharField(required=False, allow_blank=True)
    generatorURL = serializers.CharField(required=False, allow_blank=True)
    fingerprint = serializers.CharField(required=False, allow_blank=True, max_length=200)


class AlertmanagerSerializer(serializers.Serializer):
    """Alertmanager's webhook body, version 4 (fields it may add later are ignored, not refused)."""

    version = serializers.ChoiceField(choices=["4"])
    groupKey = serializers.CharField(max_length=10_000)
    status = serializers.ChoiceField(choices=["firing", "resolved"])
    receiver = serializers.CharField(required=False, allow_blank=True)
    groupLabels = label_map()
    commonLabels = label_map()
    commonAnnotations = label_map()
    externalURL = serializers.CharField(required=False, allow_blank=True)
    truncatedAlerts = serializers.IntegerField(required=False, min_value=0)
    alerts = AlertmanagerAlertSerializer(many=True, allow_empty=False, max_length=1000)


class GenericAlertSerializer(StrictSerializer):
    source = serializers.CharField(max_length=200, help_text="What sent the alert, e.g. “uptime-checker”.")
    fingerprint = serializers.CharField(max_length=200, help_text="Same value for every notification of one problem.")
    title = serializers.CharField(max_length=TITLE_LENGTH)
    description = serializers.CharField(max_length=50_000, required=False, allow_blank=True, default="")
    severity = serializers.CharField(max_length=100, required=False, allow_blank=True, default="",
                                     help_text="Mapped through the integration's severity map, e.g. “critical”.")
    status = serializers.ChoiceField(choices=["firing", "resolved"])


class AlertOutcomeSerializer(serializers.Serializer):
    result = serializers.ChoiceField(choices=["created", "repeated", "retried", "resolved", "ignored"])
    incident = serializers.IntegerField(allow_null=True)
    notifications = serializers.IntegerField(allow_null=True, help_text="Firing notifications counted on the group.")


def _title(text: str, fallback: str) -> str:
    return clean_plain_text(text)[:TITLE_LENGTH] or fallback


def _list(mapping: dict[str, str]) -> str:
    return "".join(f"<li>{escape(name)}: {escape(value)}</li>" for name, value in sorted(mapping.items()))


def alertmanager_alert(integration: AlertIntegration, data: dict[str, Any]) -> Alert:
    common_labels, common_annotations = data["commonLabels"], data["commonAnnotations"]
    first = data["alerts"][0]
    name = common_labels.get("alertname") or first["labels"].get("alertname", "")
    summary = common_annotations.get("summary") or first["annotations"].get("summary", "")
    severities = [integration.severity_for(alert["labels"][integration.severity_label])
                  for alert in data["alerts"] if integration.severity_label in alert["labels"]]
    parts = [f"<p>{escape(common_annotations.get('description', ''))}</p>"] if common_annotations.get("description") else []
    for alert in data["alerts"]:
        parts.append(f"<p>{escape(alert['status'].capitalize())} since {escape(alert.get('startsAt', ''))}</p>"
                     f"<ul>{_list(alert['labels'])}{_list(alert['annotations'])}</ul>")
    return Alert(
        key=data["groupKey"],
        firing=data["status"] == "firing",
        title=_title(f"{name}: {summary}" if name and summary else name or summary, f"Alert from {integration.name}"),
        description="".join(parts),
        severity=min(severities, default=integration.default_severity),
    )


def generic_alert(integration: AlertIntegration, data: dict[str, Any]) -> Alert:
    return Alert(
        key=f"{data['source']}\x1f{data['fingerprint']}",
        firing=data["status"] == "firing",
        title=_title(data["title"], f"Alert from {data['source']}"),
        description=f"<p>{escape(data['description'] or data['title'])}</p><p>Source: {escape(data['source'])}</p>",
        severity=integration.severity_for(data["severity"]) if data["severity"] else integration.default_severity,
    )


class AlertView(APIView):
    """Shared by both formats: authenticate, cap the body, parse, file."""

    authentication_classes = [IntegrationTokenAuthentication]
    permission_classes = [IsAuthenticated]
    # Monitoring sends in bursts (a storm is hundreds a minute); the body cap and one
    # incident per group bound what a sender can do instead.
    throttle_classes: list[Any] = []
    kind: str
    serializer_class: type[serializers.Serializer]
    make_alert: Callable[[AlertIntegration, dict[str, Any]], Alert]

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)
        declared = request.META.get("CONTENT_LENGTH") or "0"
        if not declared.isdigit() or int(declared) > settings.ALERT_MAX_BODY_BYTES:
            raise PayloadTooLarge(f"Alert bodies are limited to {settings.ALERT_MAX_BODY_BYTES} bytes.")

    def post(self, request: Request) -> Response:
        integration = request.auth
        assert isinstance(integration, AlertIntegration)
        if integration.kind != self.kind:
            raise PermissionDenied(f"This integration sends {integration.get_kind_display()} alerts, not these.")
        # Read before parsing, which then reads it from memory: the exact bytes tell a retry from a repeat.
        body = request._request.body
        if len(body) > settings.ALERT_MAX_BODY_BYTES:
            raise PayloadTooLarge(f"Alert bodies are limited to {settings.ALERT_MAX_BODY_BYTES} bytes.")
        serializer = self.serializer_class(data=request.data)
        serializer.is_valid(raise_exception=True)
        alert = type(self).make_alert(integration, serializer.validated_data)
        outcome = alert_receive(integration, alert, body_digest=digest(body))
        group = outcome.group
        code = status.HTTP_201_CREATED if outcome.result == "created" else status.HTTP_200_OK
        return Response({"result": outcome.result, "incident": group.incident_id if group else None,
                         "notifications": group.notifications if group else None}, status=code)


def _documented(summary: str, description: str, request: type[serializers.Serializer]) -> Any:
    return extend_schema_view(post=extend_schema(
        summary=summary, description=description, request=request, tags=["alerts"],
        responses={200: AlertOutcomeSerializer, 201: AlertOutcomeSerializer,
                   **problem_responses(400, 401, 403, 413, 415)},
    ))


@_documented(
    "Receive Alertmanager's webhook",
    "Alertmanager's webhook payload, version 4, as it sends it. One incident per groupKey while it is unresolved; "
    "a repeat counts on it, `resolved` comments (and resolves, if the integration says so). 201 when an incident "
    "was opened, else 200. Authenticated by the integration's secret; bodies over 1 MB get 413.",
    AlertmanagerSerializer,
)
class AlertmanagerView(AlertView):
    kind = IntegrationKind.ALERTMANAGER
    serializer_class = AlertmanagerSerializer
    make_alert = staticmethod(alertmanager_alert)


@_documented(
    "Receive a generic alert",
    "One incident per source and fingerprint while it is unresolved, as for Alertmanager. Unknown fields are refused.",
    GenericAlertSerializer,
)
class GenericAlertView(AlertView):
    kind = IntegrationKind.GENERIC
    serializer_class = GenericAlertSerializer
    make_alert = staticmethod(generic_alert)
