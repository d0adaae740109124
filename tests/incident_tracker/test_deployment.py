"""The deployment files and the environment-driven production settings, as a platform reads them."""
from __future__ import annotations

import gc
import json
import os
import re
import runpy
import subprocess
import sys

import pytest
import yaml
from gunicorn.workers.gthread import ThreadWorker

from tests.bench.run import DEPLOYED_ENVIRONMENT

from .servers import BASE_DIR

# Fields of Render's Blueprint specification (render.com/docs/blueprint-spec) used or allowed here.
BLUEPRINT_ROOT_FIELDS = {"services", "databases", "envVarGroups", "previews", "projects", "ungrouped"}
WEB_SERVICE_FIELDS = {
    "type", "name", "runtime", "plan", "region", "repo", "branch", "rootDir", "buildCommand", "preDeployCommand",
    "startCommand", "healthCheckPath", "maxShutdownDelaySeconds", "autoDeployTrigger", "numInstances", "scaling",
    "domains", "envVars", "buildFilter", "disk", "previews",
}
DATABASE_FIELDS = {"name", "plan", "region", "databaseName", "user", "postgresMajorVersion", "ipAllowList",
                   "diskSizeGB", "highAvailability", "readReplicas", "previewPlan"}
WORKER_SERVICE_FIELDS = {"type", "name", "runtime", "plan", "region", "repo", "branch", "rootDir", "buildCommand",
                         "startCommand", "maxShutdownDelaySeconds", "autoDeployTrigger", "numInstances", "envVars",
                         "buildFilter"}
KEY_VALUE_FIELDS = {"type", "name", "plan", "region", "maxmemoryPolicy", "ipAllowList"}
ENV_VAR_SOURCES = {"value", "generateValue", "fromDatabase", "fromService", "fromGroup", "sync"}
RENDER_OWN_VARIABLES = {"PYTHON_VERSION"}


@pytest.fixture(scope="module")
def blueprint() -> dict:
    return yaml.safe_load((BASE_DIR / "render.yaml").read_text())


@pytest.fixture(scope="module")
def web(blueprint) -> dict:
    [service] = [service for service in blueprint["services"] if service["type"] == "web"]
    return service


@pytest.fixture(scope="module")
def key_value(blueprint) -> dict:
    [service] = [service for service in blueprint["services"] if service["type"] == "keyvalue"]
    return service


@pytest.fixture(scope="module")
def worker(blueprint) -> dict:
    [service] = [service for service in blueprint["services"] if service["type"] == "worker"]
    return service


def env_vars(service: dict) -> dict[str, dict]:
    return {item["key"]: item for item in service["envVars"]}


def test_blueprint_uses_only_render_fields(blueprint, web, key_value):
    assert set(blueprint) <= BLUEPRINT_ROOT_FIELDS
    assert set(web) <= WEB_SERVICE_FIELDS
    assert set(key_value) <= KEY_VALUE_FIELDS
    for database in blueprint["databases"]:
        assert set(database) <= DATABASE_FIELDS
        assert isinstance(database["postgresMajorVersion"], str)
    for item in web["envVars"]:
        assert len(set(item) & ENV_VAR_SOURCES) == 1, f"{item['key']} needs exactly one source"
        assert item.get("sync", False) is False
        assert isinstance(item.get("value", ""), str), f"{item['key']}: Render takes values as strings"


def test_web_service_builds_migrates_starts_and_checks_readiness(web):
    assert (web["type"], web["runtime"]) == ("web", "python")
    assert "pip install -r requirements.txt" in web["buildCommand"]
    assert "python manage.py collectstatic --noinput" in web["buildCommand"]
    assert web["preDeployCommand"] == "python manage.py migrate --check"
    assert web["startCommand"] == "gunicorn -c gunicorn.conf.py"
    assert web["healthCheckPath"] == "/readyz"


def test_the_worker_runs_the_queue_with_the_web_services_code_and_settings(blueprint, web, worker):
    assert set(worker) <= WORKER_SERVICE_FIELDS
    assert worker["buildCommand"] == "pip install -r requirements.txt"
    assert worker["startCommand"].startswith("python manage.py run_worker")
    own, shared = env_vars(worker), env_vars(web)
    assert own["REDIS_URL"] == shared["REDIS_URL"]
    assert own["PYTHON_VERSION"] == shared["PYTHON_VERSION"]
    for key in ("DATABASE_URL", "SECRET_KEY", "MAIL_SERVER", "MAIL_USERNAME", "MAIL_PASSWORD", "DEFAULT_FROM_EMAIL",
                "SITE_URL", "WEBHOOK_ALLOWED_NETWORKS"):
        assert own[key]["fromService"] == {"type": "web", "name": web["name"], "envVarKey": key}
        assert key in shared
    for item in worker["envVars"]:
        assert len(set(item) & ENV_VAR_SOURCES) == 1, f"{item['key']} needs exactly one source"


def test_secrets_come_from_render_not_from_the_file(blueprint, web, key_value):
    variables = env_vars(web)
    assert variables["SECRET_KEY"] == {"key": "SECRET_KEY", "generateValue": True}
    # The database's connection string names its owner, who can lift the audit log's triggers.
    assert variables["DATABASE_URL"] == {"key": "DATABASE_URL", "sync": False}
    assert not [item for item in web["envVars"] if "fromDatabase" in item], "no owner's URL in the web service"
    assert "WEB_CONCURRENCY" in variables
    assert variables["REDIS_URL"]["fromService"] == {"type": "keyvalue", "name": key_value["name"],
                                                     "property": "connectionString"}
    for secret in ("MAIL_PASSWORD", "METRICS_TOKEN"):
        assert variables[secret] == {"key": secret, "sync": False}


def test_every_variable_the_blueprint_sets_is_read_by_the_application(web):
    code = "".join(path.read_text() for path in (BASE_DIR / "incident_tracker/settings.py", BASE_DIR / "gunicorn.conf.py"))
    unread = [key for key in env_vars(web) if key not in RENDER_OWN_VARIABLES and f'"{key}"' not in code]
    assert unread == []


def test_gunicorn_config_fits_render(web, monkeypatch):
    monkeypatch.setattr(os, "environ", {"PORT": "10000", "WEB_CONCURRENCY": "3", "GUNICORN_THREADS": "5"})
    config = runpy.run_path(str(BASE_DIR / "gunicorn.conf.py"))
    config["on_exit"](None)
    assert config["bind"] == "0.0.0.0:10000"
    assert issubclass(config["worker_class"], ThreadWorker)  # gthread, recycled without dropping connections
    assert (config["workers"], config["threads"]) == (3, 5)
    assert config["graceful_timeout"] < web["maxShutdownDelaySeconds"]
    assert int(os.environ["DB_STATEMENT_TIMEOUT_MS"]) < config["timeout"] * 1000
    assert config["limit_request_line"] and config["limit_request_fields"]
    assert config["max_requests"] > 0 and config["max_requests_jitter"] > 0
    assert "%(M)s" in config["access_log_format"] and "x-request-id" in config["access_log_format"]
    assert not os.path.exists(os.environ["PROMETHEUS_MULTIPROC_DIR"])  # removed again on exit


def test_a_started_worker_keeps_its_start_up_objects_out_of_the_collectors_way(monkeypatch):
    monkeypatch.setattr(os, "environ", dict(os.environ))  # the configuration names its metrics folder there
    config = runpy.run_path(str(BASE_DIR / "gunicorn.conf.py"))
    try:
        config["post_worker_init"](None)
        assert gc.get_freeze_count() > 10_000
    finally:
        gc.unfreeze()
        config["on_exit"](None)


PRODUCTION_ENV = {
    "PATH": "/usr/bin:/bin",
    "SECRET_KEY": "k" * 60 + "production-like-0123456789",
    "DATABASE_URL": "postgres://incidents:pw@db.internal:5432/incidents",
}
SHOW_SETTINGS = """
import json, django
from django.conf import settings
django.setup()
db = settings.DATABASES["default"]
print(json.dumps({
    "hosts": settings.ALLOWED_HOSTS, "origins": settings.CSRF_TRUSTED_ORIGINS,
    "conn": [db["CONN_MAX_AGE"], db["CONN_HEALTH_CHECKS"]], "options": db["OPTIONS"],
    "email": [settings.EMAIL_BACKEND, settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_HOST_USER,
              settings.EMAIL_USE_TLS, settings.DEFAULT_FROM_EMAIL],
    "site": settings.SITE_URL,
    "cache": settings.CACHES["default"]["BACKEND"], "sessions": settings.SESSION_ENGINE,
    "log_handlers": sorted(settings.LOGGING["handlers"]),
}))
"""


def production_settings(**env: str) -> dict:
    result = subprocess.run([sys.executable, "-c", SHOW_SETTINGS], cwd=BASE_DIR, capture_output=True, text=True,
                            env={**PRODUCTION_ENV, "DJANGO_SETTINGS_MODULE": "incident_tracker.settings", **env})
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.splitlines()[-1])


def test_minimal_production_environment(tmp_path):
    shown = production_settings()
    assert shown["hosts"] == [] and shown["origins"] == []
    assert shown["conn"] == [60, True]
    assert shown["options"] == {"connect_timeout": 3}
    assert shown["email"][0] == "django.core.mail.backends.dummy.EmailBackend"
    assert shown["cache"] == "django.core.cache.backends.db.DatabaseCache"
    assert shown["sessions"] == "django.contrib.sessions.backends.db"
    assert shown["log_handlers"] == ["stdout"]


def test_full_production_environment(tmp_path):
    shown = production_settings(
        RENDER_EXTERNAL_HOSTNAME="incidents.onrender.com", ALLOWED_HOSTS="incidents.example.com",
        CSRF_TRUSTED_ORIGINS="https://incidents.example.com", MAIL_SERVER="smtp.example.com", MAIL_PORT="465",
        MAIL_USERNAME="mailer", MAIL_PASSWORD="mail-secret", MAIL_USE_TLS="false", DEFAULT_FROM_EMAIL="it@example.com",
        REDIS_URL="redis://127.0.0.1:6379/4", LOG_DIR=str(tmp_path / "logs"), CONN_MAX_AGE="0",
        DB_CONNECT_TIMEOUT="2", DB_STATEMENT_TIMEOUT_MS="25000",
    )
    assert shown["hosts"] == ["incidents.example.com", "incidents.onrender.com"]
    assert shown["origins"] == ["https://incidents.example.com", "https://incidents.onrender.com"]
    assert shown["conn"] == [0, True]
    assert shown["options"] == {"connect_timeout": 2, "options": "-c statement_timeout=25000"}
    assert shown["email"] == ["django.core.mail.backends.smtp.EmailBackend", "smtp.example.com", 465, "mailer", False,
                              "it@example.com"]
    assert shown["cache"] == "common.redis_cache.KeptClientRedisCache"
    assert shown["sessions"] == "django.contrib.sessions.backends.cached_db"
    assert shown["log_handlers"] == ["app_file", "error_file", "stdout"]
    assert (tmp_path / "logs").is_dir()


def test_render_prompts_left_blank_keep_the_default_sender_and_site_address():
    shown = production_settings(RENDER_EXTERNAL_HOSTNAME="incidents.onrender.com", SITE_URL="", DEFAULT_FROM_EMAIL="")
    assert shown["site"] == "https://incidents.onrender.com"
    assert shown["email"][-1] == "incidents@localhost"


def test_production_refuses_to_start_without_a_secret_key():
    result = subprocess.run([sys.executable, "manage.py", "check"], cwd=BASE_DIR, capture_output=True, text=True,
                            env={**PRODUCTION_ENV, "SECRET_KEY": ""})
    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr


def test_deploy_checks_pass_with_the_production_environment():
    result = subprocess.run([sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
                            cwd=BASE_DIR, capture_output=True, text=True,
                            env={**PRODUCTION_ENV, "RENDER_EXTERNAL_HOSTNAME": "incidents.onrender.com"})
    assert result.returncode == 0, result.stdout + result.stderr
    assert re.search(r"System check identified no issues", result.stdout)


def test_the_benchmark_runs_gunicorn_as_the_blueprint_deploys_it(web):
    deployed = {key: item.get("value") for key, item in env_vars(web).items()}
    assert DEPLOYED_ENVIRONMENT == {key: deployed[key] for key in DEPLOYED_ENVIRONMENT}
