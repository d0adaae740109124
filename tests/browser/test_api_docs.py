"""
The interactive API documentation in a real Chromium under the production CSP: Swagger UI,
served from this site's own static files, draws every operation of the schema, and the
browser reports no policy violation (no inline script or style, nothing from elsewhere).
"""
from __future__ import annotations

import pytest

pytestmark = pytest.mark.browser


def test_api_docs_render_every_operation_without_a_policy_violation(live_server, new_page, screenshot):
    page = new_page()
    violations: list[str] = []
    foreign: list[str] = []
    page.on("console", lambda message: violations.append(message.text)
            if "Content Security Policy" in message.text or "Content-Security-Policy" in message.text else None)
    page.on("request", lambda request: foreign.append(request.url)
            if not request.url.startswith((live_server.url, "data:")) else None)
    response = page.goto("/api/v1/docs/")
    assert response is not None and response.status == 200
    assert "'unsafe-inline'" not in response.headers["content-security-policy"]
    page.get_by_role("heading", name="Incident Tracker API").wait_for()
    page.locator(".opblock-summary-path", has_text="/api/v1/incidents/{id}/transitions/").first.wait_for()
    assert page.locator(".opblock").count() >= 12
    screenshot(page, "swagger-ui")
    assert violations == []
    assert foreign == []
