from django.urls import path
from drf_spectacular.views import SpectacularAPIView

from . import alerts, oncall, views, webhooks
from .docs import ApiDocsView

# Named without an app namespace: drf-spectacular and the security page refer to them directly.
urlpatterns = [
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("docs/", ApiDocsView.as_view(), name="api-docs"),
    path("incidents/", views.IncidentListView.as_view(), name="api-incidents"),
    path("incidents/<int:pk>/", views.IncidentDetailView.as_view(), name="api-incident"),
    path("incidents/<int:pk>/transitions/", views.TransitionView.as_view(), name="api-incident-transitions"),
    path("incidents/<int:pk>/acknowledge/", views.AcknowledgeView.as_view(), name="api-incident-acknowledge"),
    path("incidents/<int:pk>/comments/", views.CommentListView.as_view(), name="api-incident-comments"),
    path("incidents/<int:pk>/timeline/", views.TimelineView.as_view(), name="api-incident-timeline"),
    path("categories/", views.CategoryListView.as_view(), name="api-categories"),
    path("oncall/", views.OnCallView.as_view(), name="api-oncall"),
    path("oncall/schedules/", oncall.ScheduleListView.as_view(), name="api-oncall-schedules"),
    path("oncall/schedules/<int:pk>/", oncall.ScheduleView.as_view(), name="api-oncall-schedule"),
    path("oncall/schedules/<int:pk>/rotations/", oncall.ScheduleRotationsView.as_view(),
         name="api-oncall-schedule-rotations"),
    path("oncall/schedules/<int:pk>/overrides/", oncall.ScheduleOverridesView.as_view(),
         name="api-oncall-schedule-overrides"),
    path("oncall/rotations/<int:pk>/", oncall.RotationView.as_view(), name="api-oncall-rotation"),
    path("oncall/overrides/<int:pk>/", oncall.OverrideView.as_view(), name="api-oncall-override"),
    path("oncall/policies/", oncall.PolicyListView.as_view(), name="api-oncall-policies"),
    path("oncall/policies/<int:pk>/", oncall.PolicyView.as_view(), name="api-oncall-policy"),
    path("oncall/rules/", oncall.RuleListView.as_view(), name="api-oncall-rules"),
    path("oncall/rules/<int:pk>/", oncall.RuleView.as_view(), name="api-oncall-rule"),
    path("me/", views.MeView.as_view(), name="api-me"),
    path("webhooks/", webhooks.WebhookListView.as_view(), name="api-webhooks"),
    path("webhooks/<int:pk>/", webhooks.WebhookDetailView.as_view(), name="api-webhook"),
    path("webhooks/<int:pk>/test/", webhooks.WebhookTestView.as_view(), name="api-webhook-test"),
    path("webhooks/<int:pk>/deliveries/", webhooks.WebhookDeliveriesView.as_view(), name="api-webhook-deliveries"),
    path("alerts/alertmanager/", alerts.AlertmanagerView.as_view(), name="api-alerts-alertmanager"),
    path("alerts/generic/", alerts.GenericAlertView.as_view(), name="api-alerts-generic"),
]
# Monitoring's `url:` is often written without the slash. A redirect would lose the
# delivery (Go's client resends a 301's POST as a GET), so the same views answer there,
# left out of the schema.
urlpatterns += [
    path(f"alerts/{name}", view.as_view(schema=None))
    for name, view in (("alertmanager", alerts.AlertmanagerView), ("generic", alerts.GenericAlertView))
]
