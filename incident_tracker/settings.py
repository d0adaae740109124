"""
Settings for the Incident Tracker.

Everything that differs between machines comes from the environment (or a local `.env`
file) through one `environ.Env`; `.env.example` lists every variable. The defaults are
the safe production ones: DEBUG off, secure cookies, no SECRET_KEY. Development turns
DEBUG on explicitly (`make run` does).
"""
import ipaddress
from pathlib import Path
from typing import Any

import environ
from django.core.exceptions import ImproperlyConfigured

from incident_tracker import __version__
from incident_tracker.log import logging_config

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env")

# --- Core ---------------------------------------------------------------------------
DEBUG = env.bool("DEBUG", default=False)

SECRET_KEY = env.str("SECRET_KEY", default="")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY must be set in the environment when DEBUG is off.")
    # Development only: a fixed key keeps sessions alive across `runserver` reloads.
    SECRET_KEY = "development-only-insecure-key-never-used-with-debug-off"

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"] if DEBUG else [])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
# Render names the service's public host name; serving it needs no extra configuration.
RENDER_EXTERNAL_HOSTNAME = env.str("RENDER_EXTERNAL_HOSTNAME", default="")
if RENDER_EXTERNAL_HOSTNAME:
    ALLOWED_HOSTS.append(RENDER_EXTERNAL_HOSTNAME)
    CSRF_TRUSTED_ORIGINS.append(f"https://{RENDER_EXTERNAL_HOSTNAME}")

INSTALLED_APPS = [
    # The admin site itself is django-otp's OTPAdminSite: staff with a verified second factor only.
    "accounts.apps.SecureAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "axes",
    "csp",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_tasks",
    "django_tasks_db",
    "accounts",
    "audit",
    "outbound",
    "oncall",
    "incidents",
    "api",
]

MIDDLEWARE = [
    # First: every response, even a redirect or a probe, carries a request id and is logged.
    "incident_tracker.middleware.RequestLogMiddleware",
    # Probes answer before the HTTPS redirect, the host check, sessions and sign-in rules.
    "incident_tracker.middleware.HealthCheckMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "incident_tracker.middleware.RejectNulQueryMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    # Before anything else reads the user: a lost database answers 503, not 500.
    "incident_tracker.middleware.DatabaseUnavailableMiddleware",
    "accounts.middleware.UserTimeZoneMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "accounts.middleware.PrivateCacheMiddleware",
    "accounts.middleware.SessionLifetimeMiddleware",
    "accounts.middleware.SecondFactorRequiredMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "audit.middleware.AuditContextMiddleware",
    # Last, so that a lockout answers before any view runs.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "incident_tracker.urls"
WSGI_APPLICATION = "incident_tracker.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "incident_tracker.context_processors.version",
                "incident_tracker.context_processors.navigation",
            ],
        },
    },
]
# Django's form renderer with labels and plain widgets written without a template each.
FORM_RENDERER = "common.rendering.FormRenderer"

# --- Database -----------------------------------------------------------------------
# No DATABASE_URL means a SQLite file next to the code, so development needs no service.
DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # IMMEDIATE takes the write lock at BEGIN, so two writers never read the same
    # audit chain head and a busy database waits instead of failing at once.
    DATABASES["default"].setdefault("OPTIONS", {}).update({"transaction_mode": "IMMEDIATE", "timeout": 20})
else:
    # A database that does not answer fails the request within seconds (a clear 503)
    # instead of holding a worker until gunicorn kills it. gunicorn.conf.py sets the
    # statement timeout below its worker timeout; manage.py commands (migrate) have none.
    DATABASES["default"].setdefault("OPTIONS", {})["connect_timeout"] = env.int("DB_CONNECT_TIMEOUT", default=3)
    DB_STATEMENT_TIMEOUT_MS = env.int("DB_STATEMENT_TIMEOUT_MS", default=0)
    if DB_STATEMENT_TIMEOUT_MS:
        DATABASES["default"]["OPTIONS"]["options"] = f"-c statement_timeout={DB_STATEMENT_TIMEOUT_MS}"
# Reuse connections across requests, and test a reused one first, so a database restart
# costs one failed health check instead of one failed request per worker thread.
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# The proxies (addresses or CIDR networks) whose X-Forwarded-For entries are believed
# (audit.middleware.client_ip); empty believes nobody's. Render: 10.0.0.0/8; nginx on
# the same host: 127.0.0.1 (DEPLOYMENT.md). A value that is no network stops the start.
TRUSTED_PROXIES = env.list("TRUSTED_PROXIES", default=[])
for _network in TRUSTED_PROXIES:
    try:
        ipaddress.ip_network(_network, strict=False)
    except ValueError:
        raise ImproperlyConfigured(f"TRUSTED_PROXIES: {_network!r} is not an IP address or network.") from None

# --- Authentication -----------------------------------------------------------------
AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = [
    # Axes first: it refuses a locked-out username or address before the password is checked.
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
PASSWORD_HASHERS = [
    "accounts.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 12}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "dashboard"
LOGOUT_REDIRECT_URL = "accounts:login"

# Lock a username-and-address pair out after repeated wrong passwords: never a username
# alone, or anyone could lock a responder out everywhere with five guesses. One account
# guessed from many addresses is slowed by progressive delays instead, up to
# SIGN_IN_MAX_DELAY_SECONDS between attempts, except for clients it signed in from
# before (a known-device cookie, kept SIGN_IN_DEVICE_COOKIE_DAYS); an address alone is
# refused only after SIGN_IN_ADDRESS_FAILURE_LIMIT wrong passwords for any accounts, so
# that a few typos behind a shared office address lock nobody else out (accounts/delays.py).
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = env.float("AXES_COOLOFF_HOURS", default=0.25)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
SIGN_IN_MAX_DELAY_SECONDS = env.int("SIGN_IN_MAX_DELAY_SECONDS", default=60)
SIGN_IN_ADDRESS_FAILURE_LIMIT = env.int("SIGN_IN_ADDRESS_FAILURE_LIMIT", default=50)
SIGN_IN_DEVICE_COOKIE_DAYS = 90
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "accounts/lockout.html"
# The same client address the audit log records (behind a proxy, the one it saw).
AXES_CLIENT_IP_CALLABLE = "audit.middleware.client_ip"
# The attempts themselves are kept in the database (axes' default handler), so every
# app process sees the same counts.
AXES_HANDLER = "axes.handlers.database.AxesDatabaseHandler"

# Two-step sign-in: how long the code step waits after a correct password, and the
# exponential back-off after wrong codes (1, 2, 4, 8... seconds times the factor).
SIGN_IN_CODE_TIMEOUT = env.int("SIGN_IN_CODE_TIMEOUT_SECONDS", default=300)
OTP_TOTP_ISSUER = env.str("OTP_TOTP_ISSUER", default="Incident Tracker")
OTP_TOTP_THROTTLE_FACTOR = 1
OTP_STATIC_THROTTLE_FACTOR = 1
# The admin never shows an existing authenticator's secret, its QR code or backup codes:
# a superuser could otherwise copy someone's second factor.
OTP_ADMIN_HIDE_SENSITIVE_DATA = True

# Staff set up a second factor only through a one-time link (e-mailed, or issued by an
# administrator), valid this many hours.
ENROLMENT_LINK_HOURS = env.int("ENROLMENT_LINK_HOURS", default=4)

# Password reset: requests per client address, and mails per e-mail address, per hour.
PASSWORD_RESET_REQUESTS_PER_HOUR = env.int("PASSWORD_RESET_REQUESTS_PER_HOUR", default=10)
# Incidents one person may report an hour through the form or the API (then 429).
INCIDENT_REPORTS_PER_HOUR = env.int("INCIDENT_REPORTS_PER_HOUR", default=30)
# CSV exports one person may download an hour (each writes an audit row; then 429).
INCIDENT_EXPORTS_PER_HOUR = 30
PASSWORD_RESET_MAILS_PER_ADDRESS_PER_HOUR = env.int("PASSWORD_RESET_MAILS_PER_ADDRESS_PER_HOUR", default=3)

# --- Sessions -----------------------------------------------------------------------
# A session ends after SESSION_IDLE_MINUTES without a request, and in any case
# SESSION_ABSOLUTE_HOURS after sign-in (accounts.middleware.SessionLifetimeMiddleware).
SESSION_IDLE_TIMEOUT = env.int("SESSION_IDLE_MINUTES", default=30) * 60
SESSION_ABSOLUTE_LIFETIME = env.int("SESSION_ABSOLUTE_HOURS", default=12) * 3600
SESSION_COOKIE_AGE = SESSION_ABSOLUTE_LIFETIME

# --- Audit log ----------------------------------------------------------------------
# How many days audit rows are kept. 0 (the default) keeps them forever; otherwise
# `manage.py prune_audit` moves older rows into an archive file and deletes them,
# leaving a chain that still verifies (see docs/audit.md).
AUDIT_RETENTION_DAYS = env.int("AUDIT_RETENTION_DAYS", default=0)

# --- Internationalisation -----------------------------------------------------------
LANGUAGE_CODE = "en-gb"
TIME_ZONE = env.str("TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

# --- Static files -------------------------------------------------------------------
STATIC_URL = "static/"
STATIC_ROOT = Path(env.str("STATIC_ROOT", default=str(BASE_DIR / "staticfiles")))
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES: dict[str, dict[str, Any]] = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}

# --- Attachments --------------------------------------------------------------------
# Files attached to incidents go to STORAGES["default"]: the filesystem under MEDIA_ROOT
# for development and a single instance, or, with AWS_STORAGE_BUCKET_NAME, an
# S3-compatible bucket that every instance shares (a local disk belongs to one machine).
# There is no MEDIA_URL route: files are served only by a view that checks who may see
# them (incidents/attachments.py).
MEDIA_ROOT = Path(env.str("MEDIA_ROOT", default=str(BASE_DIR / "media")))
# Without a bucket, uploads are accepted only where MEDIA_ROOT survives a deploy: a
# platform such as Render replaces the service's disk at every release, and files on it
# would vanish. Development keeps them in the project folder.
MEDIA_PERSISTENT = env.bool("MEDIA_PERSISTENT", default=DEBUG)
ATTACHMENT_MAX_FILE_SIZE = env.int("ATTACHMENT_MAX_FILE_MB", default=10) * 1024 * 1024
ATTACHMENT_MAX_INCIDENT_SIZE = env.int("ATTACHMENT_MAX_INCIDENT_MB", default=50) * 1024 * 1024
# At most this many files in one form; Django stops reading a request with a few more
# (a 400) before it writes them to disk, the form refuses the rest with a message.
ATTACHMENT_MAX_FILES = 10
DATA_UPLOAD_MAX_NUMBER_FILES = ATTACHMENT_MAX_FILES + 2
# Every uploaded file goes to a temporary file, never into a worker's memory whole.
FILE_UPLOAD_HANDLERS = ["django.core.files.uploadhandler.TemporaryFileUploadHandler"]
# The process that decodes an image may use this much address space and processor time
# (incidents/image_worker.py): a 25-million-pixel screenshot fits, a bomb is stopped.
ATTACHMENT_IMAGE_MEMORY_MB = 320
ATTACHMENT_IMAGE_CPU_SECONDS = 10
AWS_STORAGE_BUCKET_NAME = env.str("AWS_STORAGE_BUCKET_NAME", default="")
if AWS_STORAGE_BUCKET_NAME:
    STORAGES["default"] = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": AWS_STORAGE_BUCKET_NAME,
            # Empty means AWS itself; R2, B2, MinIO and the like name their endpoint.
            "endpoint_url": env.str("AWS_S3_ENDPOINT_URL", default="") or None,
            "region_name": env.str("AWS_S3_REGION_NAME", default="") or None,
            "access_key": env.str("AWS_ACCESS_KEY_ID", default="") or None,
            "secret_key": env.str("AWS_SECRET_ACCESS_KEY", default="") or None,
            # The bucket stays private (its own default ACL) and a name is never reused.
            "default_acl": None,
            "file_overwrite": False,
        },
    }

# --- E-mail -------------------------------------------------------------------------
# SMTP once MAIL_SERVER is set. Without it development prints messages to the console;
# production sends nothing, because printing password-reset links would leak them into logs.
EMAIL_HOST = env.str("MAIL_SERVER", default="")
EMAIL_PORT = env.int("MAIL_PORT", default=587)
EMAIL_HOST_USER = env.str("MAIL_USERNAME", default="")
EMAIL_HOST_PASSWORD = env.str("MAIL_PASSWORD", default="")
EMAIL_USE_TLS = env.bool("MAIL_USE_TLS", default=True)
EMAIL_TIMEOUT = 10
EMAIL_BACKEND = env.str(
    "EMAIL_BACKEND",
    default=(
        "django.core.mail.backends.smtp.EmailBackend" if EMAIL_HOST
        else "django.core.mail.backends.console.EmailBackend" if DEBUG
        else "django.core.mail.backends.dummy.EmailBackend"
    ),
)
# An empty value (a Render prompt left blank) means unset, here and for SITE_URL.
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="") or "incidents@localhost"
SERVER_EMAIL = DEFAULT_FROM_EMAIL
# The address users reach the site at, for the links in notification e-mails (sent after
# the request, so there is no request to build an absolute URL from). On Render the
# service's own public address is the default.
SITE_URL = (
    env.str("SITE_URL", default="")
    or (f"https://{RENDER_EXTERNAL_HOSTNAME}" if RENDER_EXTERNAL_HOSTNAME else "http://localhost:8000")
).rstrip("/")

# --- Work queue and outbound deliveries -----------------------------------------------
# Mail, webhooks and chat messages are queued in the database, in the transaction of the
# change they tell of, and sent by `manage.py run_worker` (outbound/queue.py).
TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
# A worker holds a delivery this long; one that died is noticed by another after it.
# Longer than any one try takes: each of its network steps times out after 10 s.
TASK_LEASE_SECONDS = env.int("TASK_LEASE_SECONDS", default=300)
# /readyz reports the queue as stuck when a due task has waited longer than this.
TASK_STUCK_AFTER_SECONDS = env.int("TASK_STUCK_AFTER_SECONDS", default=300)
# On-call escalation (oncall/services.py): while a step waits for an acknowledgement, how
# often it checks whether its pages died in the queue (then it moves on at once).
ONCALL_CHECK_SECONDS = env.int("ONCALL_CHECK_SECONDS", default=60)
# How long the acknowledge link in a page works (it works once).
ONCALL_LINK_MAX_AGE_SECONDS = env.int("ONCALL_LINK_MAX_AGE_SECONDS", default=24 * 3600)
WEBHOOK_TIMEOUT = 10
# Webhooks and chat messages never go to loopback, private, link-local or other
# non-public addresses, except in networks listed here (comma-separated CIDR), e.g. a
# receiver on the company network: WEBHOOK_ALLOWED_NETWORKS=10.20.0.0/16.
WEBHOOK_ALLOWED_NETWORKS = env.list("WEBHOOK_ALLOWED_NETWORKS", default=[])

# --- Security headers and cookies ---------------------------------------------------
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=not DEBUG)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = True
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
SESSION_COOKIE_SECURE = not DEBUG
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_SECURE = not DEBUG
CSRF_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"

# Strict CSP: only this origin's files, no inline script or style, no plugins, never framed.
# CSP_REPORT_ONLY=true sends the same policy as Content-Security-Policy-Report-Only instead
# (browsers report violations, to CSP_REPORT_URI if set, but block nothing): a way to try a
# change of policy on production traffic before enforcing it.
_CSP = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
        "frame-ancestors": ["'none'"],
        "form-action": ["'self'"],
        **({"report-uri": [env.str("CSP_REPORT_URI")]} if env.str("CSP_REPORT_URI", default="") else {}),
    }
}
# (Not a setting named CSP_*: django-csp 4 refuses those as leftovers of its old format.)
_csp_report_only = env.bool("CSP_REPORT_ONLY", default=False)
CONTENT_SECURITY_POLICY = None if _csp_report_only else _CSP
CONTENT_SECURITY_POLICY_REPORT_ONLY = _CSP if _csp_report_only else None

# --- Logging ------------------------------------------------------------------------
# Structured lines to stdout; with LOG_DIR also LOG_DIR/app.log (7 days) and
# LOG_DIR/errors.log (30 days), rotated at midnight. See incident_tracker/log.py.
LOG_DIR = env.str("LOG_DIR", default="") or None
LOGGING = logging_config(level=env.str("LOG_LEVEL", default="INFO").upper(), log_dir=LOG_DIR)

# --- Cache and sessions -------------------------------------------------------------
# The cache is shared by every worker and every instance, never a worker's own memory
# (incidents/caching.py says what it holds). With REDIS_URL it lives in Redis and
# sessions are read from it (and written through to the database, so a Redis restart
# signs nobody out). Without it the cache is a database table that `migrate` creates
# (incidents.apps) and that culls itself past CACHE_MAX_ENTRIES rows: nothing it holds
# is needed for correctness, so a culled entry is only read again. Keys carry the
# release, so a deployment never reads what an older release pickled.
REDIS_URL = env.str("REDIS_URL", default="")
CACHE_KEY_PREFIX = f"incident-tracker-{__version__}"
if REDIS_URL:
    CACHES = {"default": {"BACKEND": "common.redis_cache.KeptClientRedisCache", "LOCATION": REDIS_URL,
                          "KEY_PREFIX": CACHE_KEY_PREFIX}}
    SESSION_ENGINE = "django.contrib.sessions.backends.cached_db"
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.db.DatabaseCache", "LOCATION": "django_cache",
                          "KEY_PREFIX": CACHE_KEY_PREFIX,
                          "OPTIONS": {"MAX_ENTRIES": env.int("CACHE_MAX_ENTRIES", default=5000)}}}

# --- Operations ---------------------------------------------------------------------
# /metrics answers only with this bearer token; unset means no metrics endpoint at all.
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")

# --- REST API -----------------------------------------------------------------------
# /api/v1/ (api/README.md). Sessions (with CSRF) or personal access tokens; every error
# is application/problem+json; each token (or signed-in user) may make API_RATE_PER_MINUTE
# requests a minute, counted in the shared cache so every worker sees the same count.
API_RATE_PER_MINUTE = env.int("API_RATE_PER_MINUTE", default=120)
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "api.authentication.BearerTokenAuthentication",
        "api.authentication.ApiSessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["api.permissions.TokenScopePermission"],
    "DEFAULT_THROTTLE_CLASSES": ["api.throttling.PerTokenThrottle"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "api.problems.problem_exception_handler",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Incident Tracker API",
    "DESCRIPTION": "Incidents, comments, workflow and alert ingestion. See docs/api.md.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SCHEMA_PATH_PREFIX": "/api/v1",
    "COMPONENT_SPLIT_REQUEST": True,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "ENUM_NAME_OVERRIDES": {
        "IncidentStatusEnum": "incidents.workflow.Status",
        "SeverityEnum": "incidents.models.Severity",
        "AlertStatusEnum": ["firing", "resolved"],
    },
}
# The largest alert delivery accepted, in bytes (10 MB; a 1,500-alert group with long
# annotations fits); a bigger body is refused with 413 and logged.
ALERT_MAX_BODY_BYTES = env.int("ALERT_MAX_BODY_BYTES", default=10_485_760)
