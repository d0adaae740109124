"""
Webhook and chat subscriptions through the API, for responders (staff): the same
services as the admin, so every change is audited and a new secret is shown once.
"""
from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import ValidationError
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.response import Response

from outbound.models import Delivery, Event, Format, Subscription
from outbound.services import subscription_create, subscription_delete, subscription_test, subscription_update

from .problems import problem_responses
from .serializers import StrictSerializer
from .views import ApiView

# The delivery log lists this many of a subscription's newest deliveries; `total` says how many there are.
DELIVERY_LOG_SIZE = 100


class IsResponder(BasePermission):
    message = "Webhooks are managed by responders."

    def has_permission(self, request: Request, view: Any) -> bool:
        return bool(request.user and request.user.is_staff)


class SubscriptionSerializer(serializers.ModelSerializer):
    events = serializers.ListField(child=serializers.ChoiceField(choices=Event.choices))

    class Meta:
        model = Subscription
        fields = ["id", "name", "url", "format", "events", "include_internal", "is_active", "failing_since",
                  "disabled_reason", "created_at"]
        read_only_fields = fields


class SubscriptionCreatedSerializer(SubscriptionSerializer):
    secret = serializers.CharField(read_only=True, help_text="The signing secret: shown in this answer only.")

    class Meta(SubscriptionSerializer.Meta):
        fields = [*SubscriptionSerializer.Meta.fields, "secret"]
        read_only_fields = fields


class SubscriptionWriteSerializer(StrictSerializer):
    name = serializers.CharField(max_length=100)
    url = serializers.URLField(max_length=2000)
    format = serializers.ChoiceField(choices=Format.choices, default=Format.STANDARD)
    events = serializers.ListField(child=serializers.ChoiceField(choices=Event.choices), allow_empty=False)
    include_internal = serializers.BooleanField(default=False)
    is_active = serializers.BooleanField(default=True)


class DeliverySerializer(serializers.ModelSerializer):
    class Meta:
        model = Delivery
        fields = ["id", "message_id", "event", "status", "attempts", "last_status_code", "last_error", "created_at",
                  "delivered_at", "next_attempt_at"]
        read_only_fields = fields


class DeliveryLogSerializer(serializers.Serializer):
    results = DeliverySerializer(many=True)
    total = serializers.IntegerField(help_text=f"All of the subscription's deliveries; `results` holds the newest "
                                               f"{DELIVERY_LOG_SIZE} (the admin's delivery log lists every one).")


def _refused(error: DjangoValidationError) -> ValidationError:
    return ValidationError(error.message_dict if hasattr(error, "error_dict") else {"detail": error.messages})


class WebhookView(ApiView):
    permission_classes = [*ApiView.permission_classes, IsResponder]

    def subscription(self, pk: int) -> Subscription:
        return get_object_or_404(Subscription.objects.shared(), pk=pk)


class WebhookListView(WebhookView):
    @extend_schema(operation_id="webhooks_list", summary="Webhook and chat subscriptions", tags=["webhooks"],
                   responses={200: SubscriptionSerializer(many=True), **problem_responses(401, 403, 429)})
    def get(self, request: Request) -> Response:
        return Response(SubscriptionSerializer(Subscription.objects.shared(), many=True).data)

    @extend_schema(summary="Subscribe a URL to events", tags=["webhooks"], request=SubscriptionWriteSerializer,
                   description="The answer holds the signing secret, once: it is never shown again.",
                   responses={201: SubscriptionCreatedSerializer, **problem_responses(400, 401, 403, 429)})
    def post(self, request: Request) -> Response:
        try:
            subscription = subscription_create(actor=self.user, **self.validated(SubscriptionWriteSerializer))
        except DjangoValidationError as error:
            raise _refused(error) from error
        return Response(SubscriptionCreatedSerializer(subscription).data, status=status.HTTP_201_CREATED)


class WebhookDetailView(WebhookView):
    @extend_schema(summary="One subscription", tags=["webhooks"],
                   responses={200: SubscriptionSerializer, **problem_responses(401, 403, 404, 429)})
    def get(self, request: Request, pk: int) -> Response:
        return Response(SubscriptionSerializer(self.subscription(pk)).data)

    @extend_schema(summary="Change a subscription", tags=["webhooks"], request=SubscriptionWriteSerializer,
                   description="Send only the fields to change. Setting `is_active` again clears its failures.",
                   responses={200: SubscriptionSerializer, **problem_responses(400, 401, 403, 404, 429)})
    def patch(self, request: Request, pk: int) -> Response:
        serializer = SubscriptionWriteSerializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        try:
            subscription = subscription_update(self.subscription(pk), actor=self.user, **serializer.validated_data)
        except DjangoValidationError as error:
            raise _refused(error) from error
        return Response(SubscriptionSerializer(subscription).data)

    @extend_schema(summary="Remove a subscription", tags=["webhooks"],
                   responses={204: None, **problem_responses(401, 403, 404, 429)})
    def delete(self, request: Request, pk: int) -> Response:
        subscription_delete(self.subscription(pk), actor=self.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class WebhookTestView(WebhookView):
    @extend_schema(summary="Send a test event", tags=["webhooks"], request=None,
                   description="Queues a `webhook.test` event to this subscription; see its deliveries.",
                   responses={202: DeliverySerializer, **problem_responses(401, 403, 404, 429)})
    def post(self, request: Request, pk: int) -> Response:
        delivery = subscription_test(self.subscription(pk), actor=self.user)
        return Response(DeliverySerializer(delivery).data, status=status.HTTP_202_ACCEPTED)


class WebhookDeliveriesView(WebhookView):
    @extend_schema(summary="A subscription's delivery log", tags=["webhooks"],
                   responses={200: DeliveryLogSerializer, **problem_responses(401, 403, 404, 429)})
    def get(self, request: Request, pk: int) -> Response:
        deliveries = Delivery.objects.filter(subscription=self.subscription(pk))
        return Response({"results": DeliverySerializer(deliveries[:DELIVERY_LOG_SIZE], many=True).data,
                         "total": deliveries.count()})
