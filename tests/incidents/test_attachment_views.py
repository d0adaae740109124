"""
Attachments on the pages: attaching through the report and comment forms (several
files, no JavaScript), the incident page that shows them, the one view that serves
their bytes to those who may see them, and the admin.
"""
from __future__ import annotations

import io
import uuid

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from PIL import Image

from audit.models import Action, AuditLog
from incidents.models import Attachment, Comment, Incident
from incidents.services import attachment_add, attachment_remove, comment_add, incident_create
from tests.factories import image_bytes, jpeg_with_location, make_incident, make_upload
from tests.incidents.test_attachments import EXE, HTML_PAGE, LOG, stored_files
from tests.queries import rendered_page_queries

pytestmark = pytest.mark.django_db


def report(client, *files, **fields):
    data = {"title": "Payroll shows an error", "description": "See the screenshot.", "severity": 3,
            "submission_token": str(uuid.uuid4()), "attachments": list(files), **fields}
    return client.post(reverse("incidents:create"), data)


def download(client, attachment: Attachment, **params):
    response = client.get(attachment.get_absolute_url(), params)
    return response, b"".join(response.streaming_content) if response.status_code == 200 else b""


# --- Attaching --------------------------------------------------------------------------

def test_reporter_attaches_several_files_while_reporting(reporter_client, reporter):
    png = image_bytes()
    response = report(reporter_client, make_upload("error.png", png), make_upload("app.log", LOG, content_type="text/plain"))
    incident = Incident.objects.get()
    assert response.status_code == 302 and response["Location"] == incident.get_absolute_url()
    assert [a.name for a in incident.attachments.all()] == ["error.png", "app.log"]

    page = reporter_client.get(incident.get_absolute_url()).content.decode()
    image, log = incident.attachments.all()
    assert f'<img class="attachment-thumb" src="{image.get_absolute_url()}?inline" alt="Preview of error.png"' in page
    assert f'<a href="{log.get_absolute_url()}" download>app.log</a>' in page
    assert f"{log.get_absolute_url()}?inline" not in page


def test_the_report_form_accepts_files_without_javascript(reporter_client):
    page = reporter_client.get(reverse("incidents:create")).content.decode()
    assert 'enctype="multipart/form-data"' in page
    assert '<input type="file" name="attachments" multiple' in page


@pytest.mark.parametrize("upload, message", [
    (make_upload("big.log", b"x" * (15 * 1024 * 1024), content_type="text/plain"),
     "“big.log” is 15 MB; a file may be at most 10 MB."),
    (make_upload("setup.png", EXE), "“setup.png” is not an allowed type: its content is EXE"),
    (make_upload("page.png", HTML_PAGE), "“page.png” is not an allowed type: its content is a web page"),
])
def test_a_refused_file_is_named_with_the_reason_and_nothing_is_stored(reporter_client, settings, upload, message):
    response = report(reporter_client, make_upload("fine.png"), upload)
    assert response.status_code == 200
    assert message in response.content.decode()
    assert not Incident.objects.exists() and not Attachment.objects.exists()
    assert not AuditLog.objects.filter(target_type="incidents.incident").exists()
    assert stored_files(settings) == []


def test_files_attached_to_a_comment_show_under_it(reporter_client, reporter):
    incident = make_incident(reporter=reporter)
    response = reporter_client.post(reverse("incidents:comment", args=[incident.pk]),
                                    {"body": "Here is the log", "attachments": [make_upload("app.log", LOG)]})
    comment = Comment.objects.get()
    assert response["Location"] == f"{incident.get_absolute_url()}#comment-{comment.pk}"
    attachment = comment.attachments.get()
    page = reporter_client.get(incident.get_absolute_url()).content.decode()
    comment_html = page.split(f'id="comment-{comment.pk}"', 1)[1].split("</article>", 1)[0]
    assert f'href="{attachment.get_absolute_url()}"' in comment_html


def test_a_refused_file_refuses_the_comment_with_the_reason(reporter_client, reporter, settings):
    incident = make_incident(reporter=reporter)
    response = reporter_client.post(reverse("incidents:comment", args=[incident.pk]),
                                    {"body": "Here", "attachments": [make_upload("tool.png", EXE)]})
    assert response.status_code == 400
    assert "“tool.png” is not an allowed type" in response.content.decode()
    assert not Comment.objects.exists() and stored_files(settings) == []


def test_a_comment_that_is_only_markup_is_still_refused_on_its_field(reporter_client, reporter):
    incident = make_incident(reporter=reporter)
    response = reporter_client.post(reverse("incidents:comment", args=[incident.pk]), {"body": "<p></p>"})
    assert response.status_code == 400
    assert "Write something before posting." in response.content.decode()


# --- Serving ----------------------------------------------------------------------------

@pytest.fixture
def reported(reporter):
    incident, _ = incident_create(reporter=reporter, title="Payroll", description="Error.",
                                  files=[make_upload("error.png"), make_upload("app.log", LOG)])
    return incident


def test_a_download_is_the_file_as_uploaded_and_never_a_page(reporter_client, reported):
    image, log = reported.attachments.all()
    for attachment, body in ((image, image_bytes()), (log, LOG)):
        response, content = download(reporter_client, attachment)
        assert content == body
        assert response["Content-Type"] == attachment.content_type
        assert response["Content-Disposition"] == f'attachment; filename="{attachment.name}"'
        assert response["X-Content-Type-Options"] == "nosniff"
        assert response["Content-Security-Policy"] == "sandbox; default-src 'none'"
        assert "Content-Security-Policy-Report-Only" not in response


def test_only_raster_images_are_served_inline(reporter_client, reported):
    image, log = reported.attachments.all()
    response, content = download(reporter_client, image, inline="")
    assert response["Content-Disposition"] == 'inline; filename="error.png"'
    assert response["Content-Type"] == "image/png" and content == image_bytes()
    assert response["Content-Security-Policy"] == "sandbox; default-src 'none'"
    assert download(reporter_client, log, inline="")[0].status_code == 404


def test_a_text_file_that_holds_markup_later_on_is_served_as_text(reporter_client, reporter):
    """A log may quote HTML; served as a plain-text download it is inert."""
    incident, _ = incident_create(reporter=reporter, title="XSS attempt logged", description="See log.",
                                  files=[make_upload("access.png", b"GET /?q=" + HTML_PAGE)])
    attachment = incident.attachments.get()
    response, _ = download(reporter_client, attachment)
    assert attachment.name == "access.png.txt"
    assert response["Content-Type"] == "text/plain; charset=utf-8"
    assert response["Content-Disposition"] == 'attachment; filename="access.png.txt"'


def test_a_downloaded_jpeg_has_no_exif(reporter_client, reporter):
    incident, _ = incident_create(reporter=reporter, title="Broken screen", description="Photo.",
                                  files=[make_upload("photo.jpg", jpeg_with_location(), content_type="image/jpeg")])
    _, content = download(reporter_client, incident.attachments.get())
    with Image.open(io.BytesIO(content)) as image:
        assert image.format == "JPEG" and not image.getexif() and "exif" not in image.info
    assert b"PhoneMaker" not in content


def test_anonymous_visitor_is_sent_to_sign_in(client, reported):
    url = reported.attachments.first().get_absolute_url()
    response = client.get(url)
    assert response.status_code == 302 and response["Location"] == f"{reverse('accounts:login')}?next={url}"


def test_another_reporter_gets_404_by_guessing_the_address(other_client, reported):
    for attachment in reported.attachments.all():
        assert download(other_client, attachment)[0].status_code == 404
        assert download(other_client, attachment, inline="")[0].status_code == 404


def test_a_reporter_gets_404_for_an_internal_notes_file_and_never_sees_it(reporter_client, responder, reported):
    comment_add(reported, author=responder, body="Server side", internal=True, files=[make_upload("server.log", LOG)])
    secret = Attachment.objects.get(name="server.log")
    assert download(reporter_client, secret)[0].status_code == 404
    assert "server.log" not in reporter_client.get(reported.get_absolute_url()).content.decode()


def test_an_attachment_is_only_found_under_its_own_incident(reporter_client, reporter, reported):
    other = make_incident(reporter=reporter)
    attachment = reported.attachments.first()
    url = reverse("incidents:attachment", args=[other.pk, attachment.pk])
    assert reporter_client.get(url).status_code == 404


def test_responders_download_any_attachment_including_internal_ones(responder_client, responder, reported):
    comment_add(reported, author=responder, body="Server side", internal=True, files=[make_upload("server.log", LOG)])
    for attachment in Attachment.objects.all():
        assert download(responder_client, attachment)[0].status_code == 200


def test_a_missing_file_is_a_404_not_a_500(reporter_client, reported, settings):
    for file in stored_files(settings):
        file.unlink()
    assert download(reporter_client, reported.attachments.first())[0].status_code == 404


def test_no_media_url_serves_files(reporter_client, reported, settings):
    stored = reported.attachments.first().stored_name
    for prefix in ("/media/", "/", "/static/"):
        assert reporter_client.get(f"{prefix}{stored}").status_code == 404


# --- Removing ---------------------------------------------------------------------------

def test_a_responder_removes_an_attachment_from_the_page(
        responder_client, reported, settings, django_capture_on_commit_callbacks):
    image = reported.attachments.first()
    page = responder_client.get(reported.get_absolute_url()).content.decode()
    assert f'aria-label="Remove {image.name}"' in page
    with django_capture_on_commit_callbacks(execute=True):
        response = responder_client.post(reverse("incidents:attachment_remove", args=[reported.pk, image.pk]))
    assert response.status_code == 302 and response["Location"] == reported.get_absolute_url()
    assert not Attachment.objects.filter(pk=image.pk).exists() and len(stored_files(settings)) == 1
    assert AuditLog.objects.filter(action=Action.ATTACHMENT_REMOVED).count() == 1


def test_a_reporter_cannot_remove_even_their_own_attachment(reporter_client, other_client, reported):
    image = reported.attachments.first()
    url = reverse("incidents:attachment_remove", args=[reported.pk, image.pk])
    assert "Remove" not in reporter_client.get(reported.get_absolute_url()).content.decode()
    assert reporter_client.post(url).status_code == 403
    assert other_client.post(url).status_code == 404
    assert reporter_client.get(url).status_code == 405
    assert Attachment.objects.filter(pk=image.pk).exists()


# --- Speed ------------------------------------------------------------------------------

def test_ten_attachments_cost_the_incident_page_one_query(reporter_client, reporter, responder):
    """The report's and every comment's attachments come from one query, whatever their number."""
    incident = make_incident(reporter=reporter, title="Many files")
    comment = comment_add(incident, author=reporter, body="First comment")
    attachment_add(incident, actor=responder, files=[make_upload("shot.png")])
    with_one = rendered_page_queries(reporter_client, incident.get_absolute_url(), shows="shot.png",
                                     table="incidents_attachment")
    attachment_add(incident, actor=responder, files=[make_upload(f"shot{n}.png") for n in range(4)])
    attachment_add(incident, actor=responder, comment=comment, files=[make_upload(f"log{n}.txt", LOG) for n in range(5)])
    url = incident.get_absolute_url()
    reporter_client.get(url)
    with CaptureQueriesContext(connection) as captured:
        page = reporter_client.get(url).content.decode()
    assert page.count('class="attachment"') == 10
    assert len(captured) == with_one
    assert sum('"incidents_attachment"' in query["sql"] for query in captured) == 1


# --- Admin ------------------------------------------------------------------------------

def test_admin_adds_several_files_through_the_service(admin_client, admin_user, reporter, settings):
    incident = make_incident(reporter=reporter)
    response = admin_client.post(reverse("admin:incidents_attachment_add"), {
        "incident": incident.pk, "comment": "", "attachments": [make_upload("a.png"), make_upload("b.log", LOG)],
    })
    assert response.status_code == 302
    assert [(a.name, a.uploaded_by) for a in incident.attachments.all()] == [("a.png", admin_user), ("b.log", admin_user)]
    assert AuditLog.objects.filter(action=Action.ATTACHMENT_ADDED).count() == 2
    assert len(stored_files(settings)) == 2


@pytest.mark.parametrize("files, message", [
    ([make_upload("setup.png", EXE)], "“setup.png” is not an allowed type"),
    ([], "This field is required."),
])
def test_admin_is_told_why_files_are_refused(admin_client, reporter, settings, files, message):
    incident = make_incident(reporter=reporter)
    response = admin_client.post(reverse("admin:incidents_attachment_add"),
                                 {"incident": incident.pk, "comment": "", "attachments": files})
    assert response.status_code == 200 and message in response.content.decode()
    assert not Attachment.objects.exists() and stored_files(settings) == []


def test_admin_refuses_a_comment_of_another_incident_and_files_past_the_total(admin_client, reporter, settings):
    incident = make_incident(reporter=reporter)
    foreign = comment_add(make_incident(reporter=reporter), author=reporter, body="Elsewhere")
    response = admin_client.post(reverse("admin:incidents_attachment_add"),
                                 {"incident": incident.pk, "comment": foreign.pk, "attachments": [make_upload()]})
    assert "This comment belongs to another incident." in response.content.decode()
    settings.ATTACHMENT_MAX_INCIDENT_SIZE = 100
    response = admin_client.post(reverse("admin:incidents_attachment_add"),
                                 {"incident": incident.pk, "comment": "", "attachments": [make_upload()]})
    assert "an incident may have at most" in response.content.decode()
    assert not Attachment.objects.exists()


def test_admin_shows_and_deletes_attachments_through_the_service(
        admin_client, reporter, reported, settings, django_capture_on_commit_callbacks):
    image = reported.attachments.first()
    page = admin_client.get(reverse("admin:incidents_attachment_change", args=[image.pk])).content.decode()
    assert image.sha256 in page
    assert admin_client.get(reverse("admin:incidents_attachment_changelist")).status_code == 200
    with django_capture_on_commit_callbacks(execute=True):
        admin_client.post(reverse("admin:incidents_attachment_delete", args=[image.pk]), {"post": "yes"})
        admin_client.post(reverse("admin:incidents_attachment_changelist"), {
            "action": "delete_selected", "_selected_action": [a.pk for a in Attachment.objects.all()], "post": "yes",
        })
    assert not Attachment.objects.exists() and stored_files(settings) == []
    assert AuditLog.objects.filter(action=Action.ATTACHMENT_REMOVED).count() == 2


def test_the_timeline_says_what_was_attached_and_removed(
        responder_client, responder, reported, django_capture_on_commit_callbacks):
    comment_add(reported, author=responder, body="Trace", internal=True, files=[make_upload("trace.log", LOG)])
    attachment_add(reported, actor=responder, files=[make_upload("extra.png")])
    with django_capture_on_commit_callbacks(execute=True):
        attachment_remove(reported.attachments.get(name="error.png"), actor=responder)
    page = responder_client.get(reported.get_absolute_url()).content.decode()
    timeline = page.split('id="timeline-title"', 1)[1]
    for text in ("reported this incident with 2 files", "internal note</a> with 1 file", "attached extra.png",
                 "removed the attachment error.png"):
        assert text in timeline, text
