from __future__ import annotations

import logging
import logging.config
import os
import re
import socket
from datetime import datetime, time, timedelta, timezone

import pytest
import time_machine

from incident_tracker.log import RequestContext, SharedTimedRotatingFileHandler, current_request, logging_config


def next_midnight(*, plus: timedelta = timedelta(seconds=5), days: int = 1) -> datetime:
    """A moment after the coming midnight (UTC): new files take their first rotation time from the real clock."""
    return datetime.combine(datetime.now(timezone.utc).date() + timedelta(days=days), time(), timezone.utc) + plus


def dated(name: str, days_ago: int = 0) -> str:
    return f"{name}.{(datetime.now(timezone.utc).date() - timedelta(days=days_ago)).isoformat()}"


@pytest.fixture
def file_logging(tmp_path):
    """The production configuration, writing to a temporary LOG_DIR; restored afterwards."""
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    logging.config.dictConfig(logging_config(level="INFO", log_dir=str(tmp_path)))
    yield tmp_path
    for handler in root.handlers:
        handler.close()
    root.handlers, root.level = saved


def in_request(request_id: str, message: str, level: int = logging.INFO) -> None:
    token = current_request.set(RequestContext(request_id=request_id, method="GET", path="/incidents/", user_id="7"))
    try:
        logging.getLogger("incidents").log(level, message)
    finally:
        current_request.reset(token)


def test_stdout_only_without_a_log_directory():
    config = logging_config(level="WARNING", log_dir=None)
    assert list(config["handlers"]) == ["stdout"]
    assert config["root"] == {"handlers": ["stdout"], "level": "WARNING"}


def test_files_rotate_at_midnight_keeping_7_and_30_days(file_logging):
    log_dir = file_logging
    files = {os.path.basename(handler.baseFilename): handler for handler in logging.getLogger().handlers
             if isinstance(handler, SharedTimedRotatingFileHandler)}
    app, errors = files["app.log"], files["errors.log"]
    assert (app.when, app.backupCount, app.level) == ("MIDNIGHT", 7, logging.NOTSET)
    assert (errors.when, errors.backupCount, errors.level) == ("MIDNIGHT", 30, logging.ERROR)

    in_request("req-before-midnight", "incident listed")
    in_request("req-failed", "export failed", logging.ERROR)
    with time_machine.travel(next_midnight(), tick=False):
        in_request("req-after-midnight", "incident listed")

    assert sorted(os.listdir(log_dir)) == ["app.log", dated("app.log"), "errors.log"]
    rotated = (log_dir / dated("app.log")).read_text()
    current = (log_dir / "app.log").read_text()
    assert re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z level=INFO logger=incidents "
                    r"request_id=req-before-midnight user_id=7 method=GET path=/incidents/ .*msg=incident listed", rotated)
    assert "request_id=req-after-midnight" in current and "req-before-midnight" not in current
    assert "level=ERROR logger=incidents request_id=req-failed" in (log_dir / "errors.log").read_text()
    assert "req-before-midnight" not in (log_dir / "errors.log").read_text()


def test_only_the_newest_backups_are_kept(tmp_path):
    handler = SharedTimedRotatingFileHandler(tmp_path / "app.log", when="midnight", backupCount=7, utc=True)
    handler.setFormatter(logging.Formatter("%(message)s"))
    try:
        for day in range(1, 11):
            with time_machine.travel(next_midnight(days=day), tick=False):
                handler.emit(logging.makeLogRecord({"msg": f"day {day}"}))
    finally:
        handler.close()
    backups = sorted(name for name in os.listdir(tmp_path) if name != "app.log")
    assert backups == [dated("app.log", days_ago=-day) for day in range(3, 10)]


def test_a_worker_follows_a_file_its_sibling_already_rotated(tmp_path):
    """Two gunicorn workers share app.log: the second must not delete the first one's rotation."""
    path = tmp_path / "app.log"
    first, second = (SharedTimedRotatingFileHandler(path, when="midnight", backupCount=7, utc=True) for _ in range(2))
    try:
        for handler in (first, second):
            handler.setFormatter(logging.Formatter("%(message)s"))
            handler.handle(logging.makeLogRecord({"msg": f"before midnight from {id(handler)}"}))
        with time_machine.travel(next_midnight(), tick=False):
            first.handle(logging.makeLogRecord({"msg": "first after midnight"}))
            second.handle(logging.makeLogRecord({"msg": "second after midnight"}))
    finally:
        first.close()
        second.close()
    rotated = (tmp_path / dated("app.log")).read_text()
    assert rotated.count("before midnight") == 2
    assert (tmp_path / "app.log").read_text() == "first after midnight\nsecond after midnight\n"


def test_development_server_lines_are_written_without_a_logging_error(file_logging, capfd):
    """`runserver` passes its socket as the record's `request`; the line must be written as any other."""
    with socket.socket() as connection:
        logging.getLogger("django.server").info('"%s" %s %s', "GET /incidents/ HTTP/1.1", 200, 512,
                                                extra={"request": connection, "status_code": 200})
    assert "Logging error" not in capfd.readouterr().err
    assert '"GET /incidents/ HTTP/1.1" 200 512' in (file_logging / "app.log").read_text()
