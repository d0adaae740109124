"""
The attachment path against S3-compatible object storage, as production with several
instances runs it (django-storages' S3Storage): a local endpoint from moto
(requirements-dev.txt) serves a real S3 API on 127.0.0.1. The rest of the suite runs
against the filesystem storage.
"""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command

from incidents import attachments
from incidents.models import Attachment, Incident
from incidents.services import attachment_remove, incident_create
from tests.factories import image_bytes, make_upload
from tests.incidents.test_attachments import EXE, LOG

pytestmark = [pytest.mark.s3, pytest.mark.django_db]
BUCKET = "incident-attachments"


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    server_module = pytest.importorskip("moto.server", reason="moto (requirements-dev.txt) gives the local S3 endpoint")
    server = server_module.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def bucket(s3_endpoint, settings) -> Iterator[Any]:
    """A fresh private bucket, made the default storage exactly as settings.py does with AWS_STORAGE_BUCKET_NAME."""
    credentials = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing", "region_name": "us-east-1"}
    s3 = boto3.resource("s3", endpoint_url=s3_endpoint, **credentials)
    created = s3.create_bucket(Bucket=BUCKET)
    settings.STORAGES = {**settings.STORAGES, "default": {"BACKEND": "storages.backends.s3.S3Storage", "OPTIONS": {
        "bucket_name": BUCKET, "endpoint_url": s3_endpoint, "region_name": "us-east-1", "access_key": "testing",
        "secret_key": "testing", "default_acl": None, "file_overwrite": False,
    }}}
    yield created
    created.objects.all().delete()
    created.delete()


def keys(bucket) -> list[str]:
    return sorted(item.key for item in bucket.objects.all())


def test_files_go_to_the_bucket_under_random_names_and_download_through_the_view(bucket, reporter, reporter_client):
    incident, _ = incident_create(reporter=reporter, title="Payroll", description="Error.",
                                  files=[make_upload("error.png"), make_upload("app.log", LOG)])
    rows = list(incident.attachments.all())
    assert keys(bucket) == sorted(row.stored_name for row in rows)
    assert all(key.startswith(f"{attachments.FOLDER}/") and "error" not in key for key in keys(bucket))

    response = reporter_client.get(rows[0].get_absolute_url())
    assert b"".join(response.streaming_content) == image_bytes()
    assert response["Content-Disposition"] == 'attachment; filename="error.png"'
    assert response["X-Content-Type-Options"] == "nosniff"


def test_a_refused_or_failed_submission_leaves_nothing_in_the_bucket(bucket, reporter, monkeypatch):
    with pytest.raises(ValidationError):
        incident_create(reporter=reporter, title="Tool", description="x.",
                        files=[make_upload("fine.png"), make_upload("tool.png", EXE)])

    def failing_audit(*args, **kwargs):
        raise RuntimeError("audit chain unavailable")

    monkeypatch.setattr("incidents.services.audit_record", failing_audit)
    with pytest.raises(RuntimeError):
        incident_create(reporter=reporter, title="Payroll", description="Error.", files=[make_upload("a.png")])
    assert keys(bucket) == [] and not Incident.objects.exists() and not Attachment.objects.exists()


def test_removal_deletes_the_object_and_orphans_are_found_in_the_bucket(
        bucket, reporter, responder, capsys, django_capture_on_commit_callbacks):
    incident, _ = incident_create(reporter=reporter, title="VPN", description="Down.",
                                  files=[make_upload("a.png"), make_upload("b.log", LOG)])
    with django_capture_on_commit_callbacks(execute=True):
        attachment_remove(incident.attachments.get(name="a.png"), actor=responder)
    assert keys(bucket) == [incident.attachments.get().stored_name]

    bucket.put_object(Key=f"{attachments.FOLDER}/abandoned", Body=b"left by a killed upload")
    call_command("attachment_orphans", "--min-age-minutes", "0")
    assert f"{attachments.FOLDER}/abandoned" in capsys.readouterr().out
    call_command("attachment_orphans", "--remove", "--min-age-minutes", "0")
    assert keys(bucket) == [incident.attachments.get().stored_name]
