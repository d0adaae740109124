from __future__ import annotations

import logging
import re
from unittest import mock

import pytest
from django.db import InterfaceError, OperationalError
from django.test import Client, RequestFactory
from django.urls import reverse

from accounts.services import enrolment_link_issue
from incident_tracker import metrics
from incident_tracker.log import LINE_FORMAT, RequestContextFilter, UtcFormatter, redact_path
from incidents.views import DashboardView
from tests.conftest import signed_in

pytestmark = pytest.mark.django_db

PASSWORD = "Very-Secret-Passw0rd-That-Must-Not-Leak"


def formatted(records: list[logging.LogRecord]) -> list[str]:
    """The lines as the configured handlers write them."""
    stamp, formatter = RequestContextFilter(), UtcFormatter(LINE_FORMAT)
    return [formatter.format(record) for record in records if stamp.filter(record)]


def request_lines(caplog) -> list[str]:
    return formatted([record for record in caplog.records if record.name == "incident_tracker.request"])


def test_every_response_carries_a_new_request_id(client):
    first, second = client.get("/accounts/login/"), client.get("/accounts/login/")
    assert re.fullmatch(r"[0-9a-f]{32}", first["X-Request-ID"])
    assert first["X-Request-ID"] != second["X-Request-ID"]


def test_proxy_request_id_is_kept_when_sane(client):
    response = client.get("/accounts/login/", HTTP_X_REQUEST_ID="rndr-4f1c:a.b_c-9")
    assert response["X-Request-ID"] == "rndr-4f1c:a.b_c-9"


@pytest.mark.parametrize("offered", ["", "a" * 129, "bad id with spaces", "x\r\nSet-Cookie: a=b", "ünïcode"])
def test_proxy_request_id_is_replaced_when_unsafe(client, offered):
    response = client.get("/accounts/login/", HTTP_X_REQUEST_ID=offered)
    assert re.fullmatch(r"[0-9a-f]{32}", response["X-Request-ID"])


def test_request_line_has_id_user_method_path_status_and_duration(caplog, reporter_client, reporter):
    with caplog.at_level(logging.INFO):
        response = reporter_client.get(reverse("incidents:list"), {"q": "token=abc"})
    [line] = request_lines(caplog)
    assert re.search(
        rf"level=INFO logger=incident_tracker.request request_id={response['X-Request-ID']} user_id={reporter.pk} "
        r"method=GET path=/incidents/ status=200 duration_ms=\d+\.\d msg=request finished$", line)
    assert "token=abc" not in line  # query strings can carry secrets: only the path is logged


def test_anonymous_and_never_looked_up_users_are_told_apart(caplog, settings):
    with caplog.at_level(logging.INFO):
        Client().get(reverse("dashboard"))
        settings.SECURE_SSL_REDIRECT = True
        Client().get(reverse("dashboard"))
    assert "user_id=anonymous method=GET path=/ status=302" in request_lines(caplog)[0]
    assert "user_id=- method=GET path=/ status=301" in request_lines(caplog)[1]


def test_probe_requests_are_logged_at_debug_only(caplog, client):
    with caplog.at_level(logging.INFO):
        client.get("/healthz")
    assert request_lines(caplog) == []


def test_log_lines_inside_a_request_carry_its_id(caplog, client):
    with caplog.at_level(logging.INFO):
        response = client.post(reverse("accounts:login"), {"username": "nobody", "password": "wrong-password-1"})
    ids = {line.split("request_id=")[1].split()[0] for line in formatted(caplog.records)}
    assert ids == {response["X-Request-ID"]}


def test_failed_sign_in_never_logs_the_password(caplog, reporter):
    """Every logger, at every level, through the configured line format."""
    client = Client()
    with caplog.at_level(logging.DEBUG):
        response = client.post(reverse("accounts:login"), {"username": reporter.username, "password": PASSWORD})
    assert response.status_code == 200
    assert any("login failed" in record.getMessage().lower() for record in caplog.records)
    lines = formatted(caplog.records)
    assert lines
    assert not [line for line in lines if PASSWORD in line]
    assert PASSWORD not in caplog.text


@pytest.mark.parametrize("error", [OperationalError("connection to server failed: Connection refused"),
                                   InterfaceError("connection already closed")])
def test_lost_database_answers_a_clear_503_page(caplog, reporter_client, error):
    with mock.patch.object(DashboardView, "get", side_effect=error):
        response = reporter_client.get(reverse("dashboard"))
    assert response.status_code == 503
    assert response["Retry-After"] == "30"
    assert "no-store" in response["Cache-Control"]
    page = response.content.decode()
    assert "<h1>Temporarily unavailable</h1>" in page
    assert "Traceback" not in page
    assert f"database unavailable: {error.__class__.__name__}" in caplog.text
    [django_line] = formatted([record for record in caplog.records if record.name == "django.request"])
    assert f"request_id={response['X-Request-ID']} user_id=- method=GET path=/ status=503" in django_line


def test_other_errors_still_reach_the_500_handler(reporter_client):
    reporter_client.raise_request_exception = False
    with mock.patch.object(DashboardView, "get", side_effect=ValueError("bug")):
        response = reporter_client.get(reverse("dashboard"))
    assert response.status_code == 500


def test_page_footer_shows_the_release(reporter_client):
    from incident_tracker import __version__
    assert f"v{__version__}" in reporter_client.get(reverse("dashboard")).content.decode()


def test_metrics_count_requests_latency_and_database_errors(settings, reporter):
    settings.METRICS_TOKEN = "metrics-token-0123456789"
    client = Client()
    client.force_login(reporter)
    client.get(reverse("incidents:list"))
    client.get("/readyz")
    client.get("/no-such-page")
    with mock.patch.object(DashboardView, "get", side_effect=OperationalError("down")):
        client.get(reverse("dashboard"))
    body = client.get("/metrics", HTTP_AUTHORIZATION="Bearer metrics-token-0123456789").content.decode()
    assert re.search(r'incident_tracker_requests_total\{status="200",view="incidents:list"\} [1-9]', body)
    assert re.search(r'incident_tracker_requests_total\{status="200",view="readyz"\} [1-9]', body)
    assert re.search(r'incident_tracker_requests_total\{status="404",view="unresolved"\} [1-9]', body)
    assert re.search(r'incident_tracker_request_duration_seconds_bucket\{le="0.5",view="incidents:list"\} [1-9]', body)
    assert re.search(r"incident_tracker_database_errors_total [1-9]", body)


@pytest.mark.parametrize("authorization", [None, "Bearer wrong-token", "Basic bWV0cmljczp0b2tlbg==", "Bearer"])
def test_metrics_refuse_a_missing_or_wrong_token(settings, client, authorization):
    settings.METRICS_TOKEN = "metrics-token-0123456789"
    headers = {"HTTP_AUTHORIZATION": authorization} if authorization else {}
    response = client.get("/metrics", **headers)
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == 'Bearer realm="metrics"'
    assert "incident_tracker" not in response.content.decode()


def test_metrics_do_not_exist_without_a_token(settings, client):
    settings.METRICS_TOKEN = ""
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer ").status_code == 404


def test_metrics_collection_is_off_without_a_token(settings, client):
    settings.METRICS_TOKEN = ""
    with mock.patch.object(metrics, "observe_request") as observe:
        client.get("/accounts/login/")
    observe.assert_not_called()


def test_database_lost_while_looking_up_the_user_answers_503(reporter_client):
    with mock.patch("django.contrib.sessions.backends.db.SessionStore.load", side_effect=OperationalError("gone")):
        response = reporter_client.get(reverse("incidents:list"))
    assert response.status_code == 503
    assert "<h1>Temporarily unavailable</h1>" in response.content.decode()


@pytest.mark.parametrize("error, status, page", [
    (OperationalError("gone"), 503, "<h1>Temporarily unavailable</h1>"),
    (KeyError("bug"), 500, "Something went wrong"),
])
def test_errors_inside_a_later_middleware_reach_the_error_handler(reporter_client, error, status, page):
    """A lost database still answers the 503 page there; any other error the 500 page."""
    reporter_client.raise_request_exception = False
    with mock.patch("accounts.middleware.SessionLifetimeMiddleware.__call__", side_effect=error):
        response = reporter_client.get(reverse("incidents:list"))
    assert response.status_code == status
    assert page in response.content.decode()


RESET_TOKEN = "cz1abc-0123456789abcdef0123456789abcdef"
RESET_PATH = f"/accounts/password-reset/MQ/{RESET_TOKEN}/"


def test_password_reset_tokens_are_masked_in_request_lines(caplog, client):
    with caplog.at_level(logging.INFO):
        client.get(RESET_PATH)
    [line] = request_lines(caplog)
    assert "path=/accounts/password-reset/MQ/[token]/ " in line
    assert RESET_TOKEN not in line


ENROLMENT_TOKEN = "Qx3v0J2kVb9s-_4LmNpR7tYwZa1cE5gH6iK8oU0yT2q"
ENROLMENT_PATH = f"/accounts/security/enrol/{ENROLMENT_TOKEN}/"


def test_enrolment_link_secrets_are_masked_in_request_lines(caplog, responder):
    token = enrolment_link_issue(responder, actor=None, mail=False)
    client = signed_in(responder)
    with caplog.at_level(logging.INFO):
        for path in (f"/accounts/security/enrol/{token}/", ENROLMENT_PATH):
            client.get(path)
            client.post(path)
    lines = request_lines(caplog)
    assert len(lines) == 4
    for line in lines:
        assert "path=/accounts/security/enrol/[token]/ " in line
        assert token not in line and ENROLMENT_TOKEN not in line
    assert "/accounts/security/enrol/confirm/" == redact_path("/accounts/security/enrol/confirm/")


def test_password_reset_tokens_are_masked_in_django_error_lines():
    record = logging.makeLogRecord({"name": "django.request", "levelno": logging.ERROR, "levelname": "ERROR",
                                    "msg": "%s: %s", "args": ("Internal Server Error", RESET_PATH),
                                    "request": RequestFactory().get(RESET_PATH), "status_code": 500})
    [line] = formatted([record])
    assert "path=/accounts/password-reset/MQ/[token]/ status=500" in line
    assert "msg=Internal Server Error: /accounts/password-reset/MQ/[token]/" in line
    assert RESET_TOKEN not in line
