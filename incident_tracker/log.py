"""
Structured log lines that carry the request they were written for.

Every line has the same keys (time, level, logger, request id, user id, method, path,
status, duration, message) so that `grep request_id=...` follows one request through
every logger, including Django's and third-party ones, across stdout and the files.
"""
from __future__ import annotations

import logging
import os
import re
import time
from contextvars import ContextVar
from dataclasses import dataclass
from logging.handlers import TimedRotatingFileHandler
from typing import Any

from django.http import HttpRequest

EMPTY = "-"


@dataclass
class RequestContext:
    """What a log line written while serving a request says about that request."""

    request_id: str = EMPTY
    method: str = EMPTY
    path: str = EMPTY
    user_id: str = EMPTY


NO_REQUEST = RequestContext()
current_request: ContextVar[RequestContext] = ContextVar("log_request_context", default=NO_REQUEST)

LINE_FORMAT = (
    "%(asctime)s level=%(levelname)s logger=%(name)s request_id=%(request_id)s user_id=%(user_id)s "
    "method=%(method)s path=%(path)s status=%(status)s duration_ms=%(duration_ms)s msg=%(message)s"
)


# Password-reset links carry a one-time token in the path (Django's `<timestamp>-<hash>`),
# and so do two-factor enrolment links (`/accounts/security/enrol/<secret>/`): whoever
# reads the log must not be able to use one.
RESET_TOKEN = re.compile(r"(?<=/)[0-9a-z]{1,13}-[0-9a-f]{32}(?=/)")
ENROLMENT_TOKEN = re.compile(r"(?<=/security/enrol/)(?!(?:confirm|link)/)[^/?#]+")


def redact_path(path: str) -> str:
    return ENROLMENT_TOKEN.sub("[token]", RESET_TOKEN.sub("[token]", path))


class UtcFormatter(logging.Formatter):
    """ISO 8601 times in UTC (2026-03-01T09:30:00.123Z), whatever the host's zone: lines from several hosts sort together."""

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z"


# Where RequestLogMiddleware leaves the id on the request, for lines written after it returned.
REQUEST_ID_META_KEY = "incident_tracker.request_id"


class RequestContextFilter(logging.Filter):
    """Stamps each record with the current request's facts; `extra=` values set by the caller win."""

    def filter(self, record: logging.LogRecord) -> bool:
        context = current_request.get()
        request = getattr(record, "request", None)
        if request is not None and isinstance(record.args, tuple):
            # Django's request loggers put the path in the message itself.
            record.args = tuple(redact_path(arg) if isinstance(arg, str) else arg for arg in record.args)
        if context is NO_REQUEST and isinstance(request, HttpRequest):
            # Django logs error responses once the middleware has finished, passing the request along
            # (runserver's access lines pass their socket instead, which has nothing to add).
            context = RequestContext(request_id=request.META.get(REQUEST_ID_META_KEY, EMPTY),
                                     method=request.method or EMPTY, path=redact_path(request.path))
        fields: dict[str, Any] = {
            "request_id": context.request_id,
            "method": context.method,
            "path": context.path,
            "user_id": context.user_id,
            "status": getattr(record, "status_code", EMPTY),
            "duration_ms": EMPTY,
        }
        for name, value in fields.items():
            if not hasattr(record, name):
                setattr(record, name, value)
        return True


class SharedTimedRotatingFileHandler(TimedRotatingFileHandler):
    """
    A midnight-rotated file that several gunicorn workers append to.

    The standard handler assumes it is the file's only writer: each worker would rotate
    on its own after midnight, and the second one would delete the dated file the first
    had just made. Here a worker that finds the file already rotated by a sibling (the
    name now points at a new file) only reopens it and moves its next rotation on.
    """

    def shouldRollover(self, record: logging.LogRecord) -> bool:
        if not super().shouldRollover(record):
            return False
        if self.stream is not None and self._rotated_by_another_process():
            self.stream.close()
            self.stream = self._open()
            self.rolloverAt = self.computeRollover(int(record.created))
            return False
        return True

    def _rotated_by_another_process(self) -> bool:
        try:
            on_disk = os.stat(self.baseFilename)
        except FileNotFoundError:
            return False
        opened = os.fstat(self.stream.fileno())
        return (on_disk.st_dev, on_disk.st_ino) != (opened.st_dev, opened.st_ino)


def logging_config(*, level: str, log_dir: str | None) -> dict[str, Any]:
    """
    The LOGGING setting: stdout always (Render and systemd collect it); with a log
    directory also app.log (7 days) and errors.log (ERROR and above, 30 days).
    """
    handlers: dict[str, dict[str, Any]] = {
        "stdout": {
            "class": "logging.StreamHandler",
            "stream": "ext://sys.stdout",
            "formatter": "structured",
            "filters": ["request_context"],
        },
    }
    if log_dir:
        os.makedirs(log_dir, exist_ok=True)
        for name, file_name, backups, file_level in (("app_file", "app.log", 7, "NOTSET"),
                                                     ("error_file", "errors.log", 30, "ERROR")):
            handlers[name] = {
                "class": "incident_tracker.log.SharedTimedRotatingFileHandler",
                "filename": os.path.join(log_dir, file_name),
                "when": "midnight",
                "utc": True,
                "backupCount": backups,
                "encoding": "utf-8",
                "level": file_level,
                "formatter": "structured",
                "filters": ["request_context"],
            }
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"request_context": {"()": "incident_tracker.log.RequestContextFilter"}},
        "formatters": {"structured": {"()": "incident_tracker.log.UtcFormatter", "format": LINE_FORMAT}},
        "handlers": handlers,
        "root": {"handlers": list(handlers), "level": level},
        "loggers": {
            # Django's default console and mail_admins handlers would repeat every line in another format.
            "django": {"handlers": [], "level": level},
            # SQL with its parameters (password hashes, session keys) is never logged,
            # even when LOG_LEVEL=DEBUG is set to chase a problem.
            "django.db.backends": {"level": "INFO"},
            # Its start-up banner would land in the output of every manage.py command.
            "axes.apps": {"level": "WARNING"},
            # Django's own request logger writes the same 4xx lines as ours, without the request id.
            "django.request": {"level": "ERROR"},
        },
    }
