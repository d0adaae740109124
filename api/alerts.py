"""
The alert endpoints: Prometheus Alertmanager's webhook (payload version 4, read as
Alertmanager sends it, new fields included), Grafana Alerting's webhook contact point
(version 1, a superset of it) and a documented generic JSON. Each authenticates an
AlertIntegration by its secret (Bearer, or the password of basic auth), stores the
delivery in the integration's log, turns the body into one Notification and hands it
to api.services.alert_receive.

Whatever a real sender makes is accepted: no size or count limit short of
ALERT_MAX_BODY_BYTES (values are cut, long groups summarised, by api.grouping). Only a
body over that cap, a wrong secret, malformed JSON, the rate limit and a body of
another integration's kind are refused, and each refusal is in the delivery log.
"""
from __future__ import annotations

import base64
import binascii
import json
import logging
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.utils.html import escape
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import serializers, status
from rest_framework.authentication import get_authorization_header
from rest_framework.exceptions import AuthenticationFailed, ParseError, PermissionDenied
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.models import User
from common.text import clean_plain_text

from .authentication import SecretAuthentication, bearer_secret
from .grouping import VALUE_LIMIT, Alert, Notification, cut, cut_all
from .matchers import matching_any, parse_matchers
from .models import AlertDelivery, AlertIntegration, IntegrationKind
from .problems import PayloadTooLarge, problem_responses
from .serializers import StrictSerializer
from .services import (
    alert_receive, delivery_failed, delivery_refuse, delivery_store, digest, integration_authenticate,
)
from .throttling import PerIntegrationThrottle

logger = logging.getLogger(__name__)

TITLE_LENGTH = 200
# Alerts described in full in a new incident's description; the incident's alert panel lists the group.
ALERTS_IN_DESCRIPTION = 20


def label_map() -> serializers.DictField:
    """Labels or annotations: names to text, of any length (each field needs its own instance)."""
    return serializers.DictField(child=serializers.CharField(allow_blank=True, trim_whitespace=False), required=False,
                                 default=dict)


def basic_password(request: Request) -> str | None:
    """The password of an `Authorization: Basic` header (the user name is not checked), None without one."""
    parts = get_authorization_header(request).split()
    if len(parts) != 2 or parts[0].lower() != b"basic":
        return None
    try:
        return base64.b64decode(parts[1], validate=True).decode("utf-8").partition(":")[2]
    except (binascii.Error, UnicodeDecodeError) as error:
        raise AuthenticationFailed("Send basic credentials as base64 of “user:secret”.") from error


class IntegrationTokenAuthentication(SecretAuthentication):
    """
    An alert integration's secret, as `Authorization: Bearer ita_...` or as the password of
    basic auth (Alertmanager's `basic_auth`, Grafana's user and password): the request acts
    as its service account.
    """

    realm = "alerts"
    refusal = "Unknown or inactive integration secret."

    def offered_secret(self, request: Request) -> str | None:
        return bearer_secret(request) or basic_password(request)

    def resolve(self, secret: str) -> tuple[User, AlertIntegration, str] | None:
        integration = integration_authenticate(secret)
        return (integration.account, integration, f"alert integration “{integration.name}”") if integration else None


class AlertmanagerAlertSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=["firing", "resolved"])
    labels = label_map()
    annotations = label_map()
    startsAt = serializers.CharField(required=False, allow_blank=True)
    endsAt = serializers.CharField(required=False, allow_blank=True)
    generatorURL = serializers.CharField(required=False, allow_blank=True, trim_whitespace=False)
    fingerprint = serializers.CharField(required=False, allow_blank=True)


class AlertmanagerSerializer(serializers.Serializer):
    """
    Alertmanager's webhook body, version 4, and Grafana Alerting's, version 1, which adds
    title, state, message and orgId to the same fields (fields either may add later are
    ignored, not refused).
    """

    version = serializers.ChoiceField(choices=["4", "1"])
    groupKey = serializers.CharField(trim_whitespace=False)
    status = serializers.ChoiceField(choices=["firing", "resolved"])
    receiver = serializers.CharField(required=False, allow_blank=True)
    groupLabels = label_map()
    commonLabels = label_map()
    commonAnnotations = label_map()
    externalURL = serializers.CharField(required=False, allow_blank=True)
    truncatedAlerts = serializers.IntegerField(required=False, min_value=0, max_value=2_147_483_647, default=0)
    title = serializers.CharField(required=False, allow_blank=True, help_text="Grafana's notification title.")
    alerts = AlertmanagerAlertSerializer(many=True, allow_empty=False)


class GenericAlertSerializer(StrictSerializer):
    source = serializers.CharField(help_text="What sent the alert, e.g. “uptime-checker”.")
    fingerprint = serializers.CharField(help_text="Same value for every notification of one problem.")
    title = serializers.CharField(help_text=f"Cut to {TITLE_LENGTH} characters.")
    description = serializers.CharField(required=False, allow_blank=True, default="",
                                        help_text=f"Cut to {VALUE_LIMIT:,} characters.")
    severity = serializers.CharField(required=False, allow_blank=True, default="",
                                     help_text="Mapped through the integration's severity map, e.g. “critical”.")
    status = serializers.ChoiceField(choices=["firing", "resolved"])


class AlertOutcomeSerializer(serializers.Serializer):
    result = serializers.ChoiceField(
        choices=["created", "reopened", "repeated", "retried", "resolved", "ignored", "dropped"])
    incident = serializers.IntegerField(allow_null=True)
    notifications = serializers.IntegerField(allow_null=True, help_text="Notifications counted on the group.")


def _title(text: str, fallback: str) -> str:
    return cut(clean_plain_text(text), TITLE_LENGTH)[:TITLE_LENGTH] or fallback


def _list(mapping: dict[str, str]) -> str:
    return "".join(f"<li>{escape(name)}: {escape(value)}</li>" for name, value in sorted(mapping.items()))


def _severity(integration: AlertIntegration, labels: dict[str, str]) -> int:
    value = labels.get(integration.severity_label)
    return integration.default_severity if value is None else integration.severity_for(value)


def _kept(integration: AlertIntegration, alerts: list[Alert]) -> tuple[tuple[Alert, ...], int]:
    """The alerts the integration's drop matchers leave, and how many they dropped."""
    matchers = parse_matchers(integration.drop_matchers)
    kept = tuple(alert for alert in alerts if not matching_any(matchers, alert.labels))
    return kept, len(alerts) - len(kept)


def _description(common: dict[str, str], alerts: tuple[Alert, ...], truncated: int) -> str:
    parts = [f"<p>{escape(common['description'])}</p>"] if common.get("description") else []
    for alert in alerts[:ALERTS_IN_DESCRIPTION]:
        parts.append(f"<p>{'Firing' if alert.firing else 'Resolved'} since {escape(alert.starts_at)}</p>"
                     f"<ul>{_list(alert.labels)}{_list(alert.annotations)}</ul>")
    more = len(alerts) - ALERTS_IN_DESCRIPTION
    if more > 0:
        parts.append(f"<p>And {more:,} more alerts: the incident's alert list shows the whole group.</p>")
    if truncated:
        parts.append(f"<p>Monitoring left {truncated:,} more alerts of this group out of the notification.</p>")
    return "".join(parts)


def alertmanager_notification(integration: AlertIntegration, data: dict[str, Any]) -> Notification:
    common_labels, common_annotations = cut_all(data["commonLabels"]), cut_all(data["commonAnnotations"])
    alerts = [Alert(
        fingerprint=alert.get("fingerprint") or digest(json.dumps(alert["labels"], sort_keys=True)),
        firing=alert["status"] == "firing", labels=cut_all(alert["labels"]), annotations=cut_all(alert["annotations"]),
        severity=_severity(integration, alert["labels"]), starts_at=alert.get("startsAt", ""),
        ends_at=alert.get("endsAt", ""), generator_url=alert.get("generatorURL", ""),
    ) for alert in data["alerts"]]
    kept, dropped = _kept(integration, alerts)
    first = kept[0] if kept else alerts[0]
    name = common_labels.get("alertname") or first.labels.get("alertname", "")
    summary = common_annotations.get("summary") or first.annotations.get("summary", "")
    firing = [alert.severity for alert in kept if alert.firing]
    return Notification(
        key=data["groupKey"],
        firing=bool(firing),
        title=_title(f"{name}: {summary}" if name and summary else name or summary or data.get("title", ""),
                     f"Alert from {integration.name}"),
        description=_description(common_annotations, kept, data["truncatedAlerts"]),
        severity=min(firing or [alert.severity for alert in kept], default=integration.default_severity),
        alerts=kept, truncated=data["truncatedAlerts"], dropped=dropped,
        external_url=data.get("externalURL", ""), group_labels=cut_all(data["groupLabels"]),
    )


def generic_notification(integration: AlertIntegration, data: dict[str, Any]) -> Notification:
    severity = integration.severity_for(data["severity"]) if data["severity"] else integration.default_severity
    labels = {"alertname": data["title"], "source": data["source"], **({"severity": data["severity"]}
                                                                       if data["severity"] else {})}
    alert = Alert(fingerprint=data["fingerprint"], firing=data["status"] == "firing", labels=cut_all(labels),
                  annotations={"description": cut(data["description"])}, severity=severity)
    kept, dropped = _kept(integration, [alert])
    return Notification(
        key=f"{data['source']}\x1f{data['fingerprint']}",
        firing=alert.firing and bool(kept),
        title=_title(data["title"], f"Alert from {data['source']}"),
        description=f"<p>{escape(cut(data['description'] or data['title']))}</p><p>Source: {escape(data['source'])}</p>",
        severity=severity, alerts=kept, dropped=dropped,
    )


def _body(request: Request) -> bytes:
    """
    The raw body, read up to ALERT_MAX_BODY_BYTES past Django's in-memory upload limit
    (DATA_UPLOAD_MAX_MEMORY_SIZE, 2.5 MB, which would refuse a large group with a 400).
    """
    cap = settings.ALERT_MAX_BODY_BYTES
    declared = request.META.get("CONTENT_LENGTH") or "0"
    if declared.isdigit() and int(declared) > cap:
        raise PayloadTooLarge(f"Alert bodies are limited to {cap:,} bytes; this one declares {int(declared):,}.")
    body = request._request.read(cap + 1)
    if len(body) > cap:
        raise PayloadTooLarge(f"Alert bodies are limited to {cap:,} bytes.")
    return body


def _without_nul(data: Any) -> Any:
    """`data` with every NUL character replaced by U+FFFD: PostgreSQL stores no NUL in text or JSON."""
    if isinstance(data, str):
        return data.replace("\x00", "\ufffd")
    if isinstance(data, dict):
        return {_without_nul(name): _without_nul(value) for name, value in data.items()}
    if isinstance(data, list):
        return [_without_nul(item) for item in data]
    return data


def _json(body: bytes) -> Any:
    try:
        return _without_nul(json.loads(body))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ParseError(f"The body is not JSON: {error}.") from error
    except RecursionError as error:
        raise ParseError("The body is not JSON a sender makes: it nests too deeply.") from error


class AlertView(APIView):
    """Shared by every format: authenticate, limit, store, parse, file; and log every refusal."""

    authentication_classes = [IntegrationTokenAuthentication]
    permission_classes = [IsAuthenticated]
    # Off unless the integration sets a rate: monitoring sends in bursts, and a 429 is a
    # notification the sender may not send again.
    throttle_classes = [PerIntegrationThrottle]
    kinds: frozenset[str]
    serializer_class: type[serializers.Serializer]
    make_notification: Callable[[AlertIntegration, dict[str, Any]], Notification]
    delivery: AlertDelivery | None = None

    def post(self, request: Request) -> Response:
        integration = request.auth
        assert isinstance(integration, AlertIntegration)
        if integration.kind not in self.kinds:
            raise PermissionDenied(f"This integration sends {integration.get_kind_display()} alerts, not these.")
        body = _body(request)
        self.delivery = delivery = delivery_store(integration, body=body)
        serializer = self.serializer_class(data=_json(body))
        serializer.is_valid(raise_exception=True)
        notification = type(self).make_notification(integration, serializer.validated_data)
        try:
            outcome = alert_receive(integration, notification, delivery=delivery)
        except Exception as error:
            delivery_failed(delivery, error=f"{type(error).__name__}: {error}")
            raise
        group = outcome.group
        code = status.HTTP_201_CREATED if outcome.result == "created" else status.HTTP_200_OK
        return Response({"result": outcome.result, "incident": group.incident_id if group else None,
                         "notifications": group.notifications if group else None}, status=code)

    def handle_exception(self, exc: Exception) -> Response:
        response = super().handle_exception(exc)
        integration = getattr(self.request, "auth", None)
        if isinstance(integration, AlertIntegration) and response.status_code >= 400:
            delivery_refuse(integration, delivery=self.delivery, status_code=response.status_code,
                            error=json.dumps(response.data, default=str)[:VALUE_LIMIT])
        elif response.status_code == status.HTTP_401_UNAUTHORIZED:
            # No integration to log it against: the server log is where an administrator finds it.
            logger.warning("alert delivery to %s refused with 401: %s", self.request.path, response.data.get("detail"))
        return response


def _documented(summary: str, description: str, request: type[serializers.Serializer]) -> Any:
    return extend_schema_view(post=extend_schema(
        summary=summary, description=description, request=request, tags=["alerts"],
        responses={200: AlertOutcomeSerializer, 201: AlertOutcomeSerializer,
                   **problem_responses(400, 401, 403, 413, 429)},
    ))


@_documented(
    "Receive Alertmanager's or Grafana's webhook",
    "Alertmanager's webhook payload (version 4) or Grafana Alerting's (version 1), as they send it, of any size up "
    "to the server's cap (ALERT_MAX_BODY_BYTES, 10 MB by default: 413 beyond). One incident per groupKey while it "
    "is unresolved; each notification updates the group's alerts on it, and it is resolved once no alert of the "
    "group is known to fire. 201 when an incident was opened, else 200. Authenticated by the integration's secret, "
    "as a bearer token or the password of basic auth; also answered without the trailing slash.",
    AlertmanagerSerializer,
)
class AlertmanagerView(AlertView):
    kinds = frozenset({IntegrationKind.ALERTMANAGER, IntegrationKind.GRAFANA})
    serializer_class = AlertmanagerSerializer
    make_notification = staticmethod(alertmanager_notification)


@_documented(
    "Receive a generic alert",
    "One incident per source and fingerprint while it is unresolved, as for Alertmanager. Unknown fields are refused.",
    GenericAlertSerializer,
)
class GenericAlertView(AlertView):
    kinds = frozenset({IntegrationKind.GENERIC})
    serializer_class = GenericAlertSerializer
    make_notification = staticmethod(generic_notification)
