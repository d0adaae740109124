"""Security headers and cookies on every kind of response, and the production checks."""
from __future__ import annotations

import os
import re
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.urls import reverse

from tests.factories import DEFAULT_PASSWORD

pytestmark = pytest.mark.django_db

BASE_DIR = Path(settings.BASE_DIR)
EXPECTED_CSP = {
    "default-src": "'self'",
    "script-src": "'self'",
    "style-src": "'self'",
    "img-src": "'self'",
    "object-src": "'none'",
    "base-uri": "'none'",
    "frame-ancestors": "'none'",
    "form-action": "'self'",
}


def csp_directives(header: str) -> dict[str, str]:
    return dict(part.strip().split(" ", 1) for part in header.split(";") if part.strip())


def assert_security_headers(response) -> None:
    assert csp_directives(response["Content-Security-Policy"]) == EXPECTED_CSP
    assert "unsafe" not in response["Content-Security-Policy"]
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["Cross-Origin-Opener-Policy"] == "same-origin"
    assert response["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains; preload"


@pytest.mark.parametrize("who,path,status", [
    ("anonymous", "/accounts/login/", 200),
    ("anonymous", "/", 302),
    ("anonymous", "/no-such-page/", 404),
    ("anonymous", "/accounts/logout/", 405),
    ("reporter", "/", 200),
    ("reporter", "/incidents/", 200),
    ("reporter", "/accounts/security/", 200),
    ("reporter", "/admin/login/", 403),
    ("responder", "/incidents/?status=%27%22%3E", 200),
])
def test_every_kind_of_response_carries_the_security_headers(who, path, status, client, reporter_client,
                                                             responder_client):
    chosen = {"anonymous": client, "reporter": reporter_client, "responder": responder_client}[who]
    response = chosen.get(path, secure=True)
    assert response.status_code == status
    assert_security_headers(response)


def test_requests_marked_https_by_the_proxy_count_as_secure(client):
    response = client.get("/accounts/login/", headers={"X-Forwarded-Proto": "https"})
    assert "Strict-Transport-Security" in response


def test_plain_http_is_redirected_to_https_when_enabled(client, settings):
    settings.SECURE_SSL_REDIRECT = True
    response = client.get("/accounts/login/")
    assert response.status_code == 301 and response["Location"].startswith("https://")


def test_session_and_csrf_cookies_are_secure_and_http_only(client, reporter):
    client.get("/accounts/login/", secure=True)
    response = client.post("/accounts/login/", {"username": "reporter", "password": DEFAULT_PASSWORD}, secure=True)
    for name in (settings.SESSION_COOKIE_NAME, settings.CSRF_COOKIE_NAME):
        cookie = response.cookies[name]
        assert cookie["secure"] and cookie["httponly"], name
        assert cookie["samesite"] == "Lax", name


def run_python(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """Python in a fresh process with production settings: DEBUG unset and a real-looking SECRET_KEY."""
    overrides = ("DEBUG", "CSP_REPORT_ONLY", "SECURE_SSL_REDIRECT", "SECURE_HSTS_SECONDS")
    environment = {key: value for key, value in os.environ.items() if key not in overrides}
    environment.update(SECRET_KEY=secrets.token_urlsafe(50), ALLOWED_HOSTS="tracker.example.com", **env)
    return subprocess.run([sys.executable, *args], cwd=BASE_DIR, env=environment, capture_output=True, text=True,
                          timeout=120)


def test_report_only_mode_is_switched_from_the_environment():
    code = ("import django, os; os.environ['DJANGO_SETTINGS_MODULE'] = 'incident_tracker.settings'; django.setup(); "
            "from django.conf import settings as s; "
            "print(s.CONTENT_SECURITY_POLICY is None, s.CONTENT_SECURITY_POLICY_REPORT_ONLY is None)")
    assert run_python("-c", code, CSP_REPORT_ONLY="true").stdout == "True False\n"
    assert run_python("-c", code, CSP_REPORT_ONLY="false").stdout == "False True\n"


def test_report_only_header_replaces_the_enforced_one(client, settings):
    settings.CONTENT_SECURITY_POLICY_REPORT_ONLY, settings.CONTENT_SECURITY_POLICY = settings.CONTENT_SECURITY_POLICY, None
    response = client.get("/accounts/login/")
    assert "Content-Security-Policy" not in response
    assert csp_directives(response["Content-Security-Policy-Report-Only"]) == EXPECTED_CSP


def test_check_deploy_is_clean_with_production_settings():
    result = run_python("manage.py", "check", "--deploy")
    assert result.returncode == 0, result.stderr
    assert "System check identified no issues (0 silenced)." in result.stdout
    assert "WARNING" not in result.stdout + result.stderr


INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)(?![^>]*application/json)[^>]*>", re.IGNORECASE)
INLINE_STYLE = re.compile(r"<style\b|\sstyle\s*=", re.IGNORECASE)
INLINE_HANDLER = re.compile(r"\son[a-z]+\s*=", re.IGNORECASE)
JS_URL = re.compile(r"javascript:", re.IGNORECASE)


def project_templates() -> list[Path]:
    """Ours only: a virtual environment (whatever its name, e.g. `make test VENV=.venv313`) holds Django's own."""
    return sorted(path for path in BASE_DIR.glob("**/templates/**/*.html") if "site-packages" not in path.parts)


def test_no_template_needs_unsafe_inline():
    templates = project_templates()
    assert len(templates) > 10
    for path in templates:
        text = path.read_text()
        for pattern in (INLINE_SCRIPT, INLINE_STYLE, INLINE_HANDLER, JS_URL):
            assert not pattern.search(text), f"{path.relative_to(BASE_DIR)}: {pattern.pattern}"


def test_security_page_qr_code_is_inline_svg_allowed_by_the_policy(reporter_client):
    reporter_client.post(reverse("accounts:enrol_start"))
    html = reporter_client.get(reverse("accounts:security")).content.decode()
    qr = html.split('<div class="qr-code">')[1].split("</div>")[0]
    assert qr.lstrip().startswith("<svg") and "style" not in qr and "<script" not in qr and "href" not in qr
