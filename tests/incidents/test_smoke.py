from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.db.migrations.recorder import MigrationRecorder

from incident_tracker import __version__
from tests.incident_tracker.servers import free_port


def smoke(url: str) -> tuple[list[str], CommandError | None]:
    out = StringIO()
    try:
        call_command("smoke", "--url", url, "--timeout", "5", stdout=out)
    except CommandError as error:
        return out.getvalue().splitlines(), error
    return out.getvalue().splitlines(), None


@pytest.mark.django_db(transaction=True)
def test_every_check_passes_against_a_healthy_instance(live_server):
    lines, error = smoke(live_server.url)
    assert error is None
    assert lines == [
        "PASS app answers: / answered 200",
        "PASS liveness /healthz: 200",
        f"PASS readiness /readyz: 200, database ok, migrations applied, cache ok, version {__version__}",
        "PASS sign-in page: 200 with a CSRF token",
        "PASS static CSS: /static/css/site.css served as text/css",
    ]


@pytest.mark.django_db(transaction=True)
def test_an_unapplied_migration_fails_readiness_by_name(live_server):
    recorder = MigrationRecorder(connection)
    recorder.record_unapplied("incidents", "0001_initial")
    try:
        lines, error = smoke(live_server.url + "/")
    finally:
        recorder.record_applied("incidents", "0001_initial")
    assert str(error) == f"1 of 5 checks failed against {live_server.url}/"
    assert "FAIL readiness /readyz: answered 503: database ok, cache ok, unapplied migrations: incidents.0001_initial" in lines


def test_an_instance_that_does_not_answer_fails_every_check():
    lines, error = smoke(f"http://127.0.0.1:{free_port()}")
    assert error is not None and str(error).startswith("5 of 5 checks failed")
    assert lines[0].startswith("FAIL app answers: no answer (")
    assert all(line.startswith("FAIL ") for line in lines)


@pytest.mark.parametrize("url", ["incidents.example.com", "ftp://example.com", "https://"])
def test_the_address_must_be_http_or_https(url):
    with pytest.raises(CommandError, match="--url must be an http:// or https:// address"):
        call_command("smoke", "--url", url)
