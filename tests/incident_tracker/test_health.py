from __future__ import annotations

import logging
from datetime import timedelta
from unittest import mock

import pytest
import time_machine
from django.db import OperationalError, connection
from django.db.migrations.recorder import MigrationRecorder
from django.test import Client
from django.utils import timezone

from incident_tracker import __version__
from incident_tracker.health import log_unapplied_migrations
from outbound.services import mail_enqueue

pytestmark = pytest.mark.django_db


def forget_migration(app: str = "incidents", name: str = "0001_initial") -> None:
    """The database no longer records the migration: as if it had never been applied."""
    MigrationRecorder.Migration.objects.filter(app=app, name=name).delete()


def test_healthz_answers_without_touching_the_database(client, django_assert_num_queries):
    with django_assert_num_queries(0):
        response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "version": __version__}
    assert "no-cache" in response["Cache-Control"]


def test_readyz_reports_version_database_migrations_and_queue(client, django_assert_max_num_queries):
    # The migrations, the cache, and the queue's due tasks and dead deliveries.
    with django_assert_max_num_queries(5):
        response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "version": __version__, "database": "ok", "migrations": "applied",
                               "cache": "ok", "queue": "ok", "queue_waiting": 0, "queue_oldest_wait_seconds": 0.0,
                               "queue_dead": 0}
    assert "no-store" in response["Cache-Control"]


def test_readyz_names_unapplied_migrations_with_503(client):
    forget_migration()
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["migrations"] == "unapplied"
    assert response.json()["unapplied_migrations"] == ["incidents.0001_initial"]


def test_readyz_answers_503_when_the_database_fails(client):
    with mock.patch.object(MigrationRecorder, "applied_migrations", side_effect=OperationalError("connection refused")):
        response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json() == {"status": "unavailable", "version": __version__, "database": "unreachable",
                               "migrations": "unknown", "cache": "unknown", "error": "OperationalError"}


def test_readyz_answers_503_when_the_cache_table_is_missing(client, settings):
    """An instance whose cache cannot be read (its table gone, Redis down) must not take traffic: the dashboard would fail."""
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.db.DatabaseCache",
                                   "LOCATION": "no_such_cache_table"}}
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["cache"] == "unavailable"
    expected = "ProgrammingError" if connection.vendor == "postgresql" else "OperationalError"
    assert response.json()["cache_error"] == expected
    assert response.json()["migrations"] == "applied"


def test_probes_skip_https_redirect_host_check_and_sign_in(settings):
    settings.SECURE_SSL_REDIRECT = True
    settings.ALLOWED_HOSTS = ["incidents.example.com"]
    client = Client(HTTP_HOST="10.1.2.3:10000")
    assert client.get("/healthz").status_code == 200
    assert client.get("/readyz").status_code == 200
    assert client.get("/accounts/login/").status_code == 400


def test_probes_refuse_writes(client):
    assert client.post("/healthz").status_code == 405


def test_startup_check_logs_unapplied_migrations_at_critical(settings, caplog):
    settings.DEBUG = False
    forget_migration()
    with caplog.at_level(logging.INFO, logger="incident_tracker.health"):
        log_unapplied_migrations()
    [record] = caplog.records
    assert record.levelno == logging.CRITICAL
    assert "incidents.0001_initial" in record.getMessage()


def test_startup_check_is_silent_when_everything_is_applied(settings, caplog):
    settings.DEBUG = False
    with caplog.at_level(logging.INFO, logger="incident_tracker.health"):
        log_unapplied_migrations()
    assert caplog.records == []


def test_startup_check_is_off_in_development(settings, caplog):
    settings.DEBUG = True
    forget_migration()
    with caplog.at_level(logging.INFO, logger="incident_tracker.health"):
        log_unapplied_migrations()
    assert caplog.records == []


def test_startup_check_survives_an_unreachable_database(settings, caplog):
    settings.DEBUG = False
    with mock.patch.object(MigrationRecorder, "applied_migrations", side_effect=OperationalError("refused")):
        log_unapplied_migrations()
    assert "start-up migration check skipped: database unreachable (OperationalError)" in caplog.text


def test_readyz_says_when_the_queue_is_stuck_and_metrics_count_its_tasks(client, settings, database_queue):
    """No worker has taken a mail queued six minutes ago."""
    settings.METRICS_TOKEN = "scrape-token"
    with time_machine.travel(timezone.now() - timedelta(minutes=6)):
        mail_enqueue(key="test:1", event="test", to="watcher@example.com", subject="s", text="t")
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json()["queue"] == "stuck"
    assert response.json()["queue_waiting"] == 1
    assert response.json()["queue_oldest_wait_seconds"] >= 360
    metrics = client.get("/metrics", HTTP_AUTHORIZATION="Bearer scrape-token").content.decode()
    assert "incident_tracker_queue_waiting_tasks 1.0" in metrics
    assert "incident_tracker_queue_dead_deliveries 0.0" in metrics
