"""
One of the two people of test_contention: `python -m tests.incidents.contending_client
BARRIER NAME SESSION PAGE URL DATA` opens PAGE signed in with the session key SESSION,
waits at the barrier, posts DATA (JSON) to URL, follows the redirect as a browser would,
and prints what it was shown as the last line, in JSON: the statuses, the final
address and the page (the log goes to stdout too).
"""
from __future__ import annotations

import functools
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import django

from tests.processes import wait_at_barrier

# A request does more than the write under test while its transaction is open (the
# audit row, scheduling mail). Pausing there makes the two requests overlap every time,
# as two slow requests would, instead of now and then: without the row lock the second
# one reads the incident before the first commits, and the race shows on every run.
PAUSE_INSIDE_TRANSACTION = 0.5


def slowed(write: Any) -> Any:
    @functools.wraps(write)
    def write_slowly(*args: Any, **kwargs: Any) -> Any:
        time.sleep(PAUSE_INSIDE_TRANSACTION)
        return write(*args, **kwargs)

    return write_slowly


def main(barrier: Path, name: str, session_key: str, page: str, url: str, data: dict[str, Any]) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "incident_tracker.settings")
    django.setup()
    from django.conf import settings
    from django.test import Client
    from django.test.utils import setup_test_environment

    from incidents import services

    # The test server's host name and e-mail kept in memory, as in the test process.
    setup_test_environment()
    settings.STORAGES = {**settings.STORAGES,
                         "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}
    services.audit_record = slowed(services.audit_record)

    client = Client(raise_request_exception=False)
    client.cookies[settings.SESSION_COOKIE_NAME] = session_key
    opened = client.get(page)
    assert opened.status_code == 200, f"{name} could not open {page}: {opened.status_code}"
    wait_at_barrier(barrier, name)
    response = client.post(url, data, follow=True)
    print(json.dumps({
        "statuses": [status for _, status in response.redirect_chain] + [response.status_code],
        "url": response.request["PATH_INFO"],
        "page": response.content.decode(),
    }))


if __name__ == "__main__":
    main(Path(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5], json.loads(sys.argv[6]))
