from __future__ import annotations

import os
import socket
from typing import Any, Callable
from urllib.parse import urlsplit

import pytest
from django.conf import settings as django_settings
from django.db import connection
from django.test import Client
from django.urls import reverse
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.models import User
from tests.factories import DEFAULT_PASSWORD, make_totp_device, make_user


# The Redis database tests may empty: the two-instance tests' shared cache.
TEST_REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/3")


def pytest_collection_modifyitems(config, items):
    """
    Tests marked `postgresql` need PostgreSQL's own behaviour, and tests marked `redis` a
    Redis server (TEST_REDIS_URL); without one they are skipped, saying why.
    """
    if django_settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":
        skip_all(items, "postgresql", "needs PostgreSQL: run with DATABASE_URL=postgres://... (the second pass of .ci/run)")
    redis_items = [item for item in items if item.get_closest_marker("redis")]
    if redis_items:
        address = urlsplit(TEST_REDIS_URL)
        host, port = address.hostname or "127.0.0.1", address.port or 6379
        try:
            socket.create_connection((host, port), timeout=1).close()
        except OSError as error:
            skip_all(redis_items, "redis", f"needs Redis: nothing answers at {host}:{port} ({error}); "
                                           "start redis-server or set TEST_REDIS_URL")


def skip_all(items: list[pytest.Item], marker: str, reason: str) -> None:
    skip = pytest.mark.skip(reason=reason)
    for item in items:
        if item.get_closest_marker(marker):
            item.add_marker(skip)


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker):
    """
    PostgreSQL refuses TRUNCATE of the audit table (audit migration 0006) unless the
    session allows it; tests that commit are emptied with TRUNCATE, so the test database
    allows it for every new connection. The test of the refusal switches it off again.
    """
    if connection.vendor == "postgresql":
        with django_db_blocker.unblock(), connection.cursor() as cursor:
            cursor.execute(f"ALTER DATABASE {connection.ops.quote_name(connection.settings_dict['NAME'])} "
                           "SET audit.truncate_allowed = 'on'")
            cursor.execute("SET audit.truncate_allowed = 'on'")


@pytest.fixture(autouse=True)
def fast_test_settings(settings, tmp_path):
    """
    Speed-ups that change nothing a user sees: a fast hasher, in-memory e-mail, and
    static files served from the source folders (no collectstatic before every run).
    Attachments go to the test's own folder (the filesystem storage, as in development).
    Queued work runs at once, in the transaction that queues it, so a test sees the mail
    a change sends; the queue's own tests use the database queue (`task_queue`).
    """
    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.immediate.ImmediateBackend"}}
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.MEDIA_PERSISTENT = True
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }


@pytest.fixture
def database_queue(settings) -> None:
    """The queue as production keeps it: tasks are rows that wait for a worker."""
    settings.TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}


@pytest.fixture
def reporter(db) -> User:
    return make_user(username="reporter")


@pytest.fixture
def other_reporter(db) -> User:
    return make_user(username="other")


@pytest.fixture
def responder(db) -> User:
    return make_user(username="responder", is_staff=True)


@pytest.fixture
def admin_user(db) -> User:
    return make_user(username="admin", is_staff=True, is_superuser=True)


def password_step(client: Client, username: str, *, password: str = DEFAULT_PASSWORD, next_url: str = "",
                  remote_addr: str | None = None) -> Any:
    """The first step of signing in through the real page (axes and the two-step flow included)."""
    return client.post(reverse("accounts:login"), {"username": username, "password": password, "next": next_url},
                       REMOTE_ADDR=remote_addr or client.defaults.get("REMOTE_ADDR", "127.0.0.1"))


def signed_in(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def signed_in_verified(user: User) -> Client:
    """
    A client signed in as if through both sign-in steps: the user gets a confirmed
    authenticator (unless they have one) and the session is marked verified by it.
    Staff need this for every page; see accounts.middleware.SecondFactorRequiredMiddleware.
    """
    device = TOTPDevice.objects.devices_for_user(user, confirmed=True).first() or make_totp_device(user=user)
    client = signed_in(user)
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = device.persistent_id
    session.save()
    return client


@pytest.fixture
def otp_client(db) -> Callable[[User], Client]:
    """`otp_client(user)`: a client for `user` with a verified second factor."""
    return signed_in_verified


@pytest.fixture
def reporter_client(reporter) -> Client:
    return signed_in(reporter)


@pytest.fixture
def other_client(other_reporter) -> Client:
    return signed_in(other_reporter)


@pytest.fixture
def responder_client(responder) -> Client:
    return signed_in_verified(responder)


@pytest.fixture
def admin_client(admin_user) -> Client:
    return signed_in_verified(admin_user)
