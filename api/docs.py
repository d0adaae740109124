"""
The interactive API documentation, served by the app itself under the strict CSP.
drf-spectacular's Swagger UI page starts Swagger UI from an inline script and styles
itself with an inline <style>; this page loads the same self-hosted Swagger UI files
(drf-spectacular-sidecar) and starts them from static/api/swagger-init.js instead.
"""
from __future__ import annotations

from typing import Any

from csp.decorators import csp_update
from django.conf import settings
from django.urls import reverse
from django.utils.decorators import method_decorator
from django.views.generic import TemplateView


# Swagger UI's stylesheet draws its icons as data: SVG images; nothing else is loosened,
# in whichever policy (enforced or report-only) the site sends.
@method_decorator(csp_update({"img-src": ["data:"]}, REPORT_ONLY=settings.CONTENT_SECURITY_POLICY_REPORT_ONLY is not None),
                  name="dispatch")
class ApiDocsView(TemplateView):
    template_name = "api/docs.html"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        return super().get_context_data(schema_url=reverse("api-schema"), **kwargs)
