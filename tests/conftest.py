from __future__ import annotations

import pytest
from django.test import Client

from accounts.models import User
from tests.factories import make_user


@pytest.fixture(autouse=True)
def fast_test_settings(settings):
    """
    Speed-ups that change nothing a user sees: a fast hasher, in-memory e-mail, and
    static files served from the source folders (no collectstatic before every run).
    """
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }


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


def signed_in(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def reporter_client(reporter) -> Client:
    return signed_in(reporter)


@pytest.fixture
def other_client(other_reporter) -> Client:
    return signed_in(other_reporter)


@pytest.fixture
def responder_client(responder) -> Client:
    return signed_in(responder)
