from django.contrib import admin
from django.urls import include, path

from incidents.views import DashboardView

from . import health

urlpatterns = [
    path("", DashboardView.as_view(), name="dashboard"),
    path("accounts/", include("accounts.urls")),
    path("incidents/", include("incidents.urls")),
    path("admin/", admin.site.urls),
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
]

admin.site.site_header = "Incident Tracker administration"
admin.site.site_title = "Incident Tracker"
