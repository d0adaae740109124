from django.contrib import admin
from django.urls import include, path

from incidents.views import DashboardView

from .metrics import metrics_view

urlpatterns = [
    path("", DashboardView.as_view(), name="dashboard"),
    path("accounts/", include("accounts.urls")),
    path("incidents/", include("incidents.urls")),
    path("oncall/", include("oncall.urls")),
    path("api/v1/", include("api.urls")),
    path("admin/", admin.site.urls),
    # /healthz and /readyz are answered by HealthCheckMiddleware, ahead of every other rule.
    path("metrics", metrics_view, name="metrics"),
]

handler400 = "incident_tracker.views.bad_request"
handler404 = "incident_tracker.views.page_not_found"
handler500 = "incident_tracker.views.server_error"

admin.site.site_header = "Incident Tracker administration"
admin.site.site_title = "Incident Tracker"
