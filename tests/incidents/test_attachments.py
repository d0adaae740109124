"""
Attachments: what a file is (decided by its content), what is kept of it, and the
services that store files together with their incident or comment and audit row, or
store nothing at all.
"""
from __future__ import annotations

import hashlib
import io
import os
import uuid
import zipfile
from datetime import timedelta
from pathlib import Path

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management import call_command
from django.utils import timezone
from PIL import Image, ImageCms, PngImagePlugin

from audit.models import Action, AuditLog
from incidents import attachments
from incidents.models import Attachment, Comment, Incident
from incidents.services import attachment_add, attachment_remove, comment_add, incident_create
from tests.factories import image_bytes, jpeg_with_location, make_comment, make_incident, make_upload

pytestmark = pytest.mark.django_db

# A Windows program's first bytes: "MZ", the DOS stub, and the PE header it points to.
EXE = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00" + b"\x00" * 44 + b"\x80\x00\x00\x00" + b"\x00" * 64 \
    + b"PE\x00\x00" + b"\x00" * 200
HTML_PAGE = b"<!DOCTYPE html><html><body><script>fetch('/accounts/security/')</script></body></html>"
SVG_WITH_SCRIPT = (b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(document.cookie)">'
                   b"<script>alert(1)</script></svg>")
LOG = b"2026-12-02 07:00:01 ERROR payroll: upstream timed out\n\x1b[31mred\x1b[0m <b>not a page</b>\n"


def content_of(upload: attachments.Upload) -> bytes:
    upload.file.seek(0)
    return upload.file.read()


def stored_files(settings) -> list[Path]:
    folder = Path(settings.MEDIA_ROOT) / attachments.FOLDER
    return sorted(folder.iterdir()) if folder.exists() else []


def zip_bytes() -> bytes:
    output = io.BytesIO()
    with zipfile.ZipFile(output, "w") as archive:
        archive.writestr("app.log", "line\n")
    return output.getvalue()


def pdf_bytes() -> bytes:
    output = io.BytesIO()
    Image.new("RGB", (10, 10)).save(output, "PDF")
    return output.getvalue()


# --- What a file is ----------------------------------------------------------------------

@pytest.mark.parametrize("name, content, content_type", [
    ("screen.png", image_bytes(), "image/png"),
    ("photo.jpeg", image_bytes(format="JPEG"), "image/jpeg"),
    ("anim.gif", image_bytes(format="GIF"), "image/gif"),
    ("shot.webp", image_bytes(format="WEBP"), "image/webp"),
    ("report.pdf", pdf_bytes(), "application/pdf"),
    ("logs.zip", zip_bytes(), "application/zip"),
    ("app.log", LOG, "text/plain; charset=utf-8"),
    ("export.csv", b"id,title\n1,VPN down\n", "text/csv; charset=utf-8"),
])
def test_each_allowed_type_is_recognised_by_its_content(name, content, content_type):
    upload = attachments.inspect(make_upload(name, content, content_type="application/octet-stream"))
    assert (upload.name, upload.kind.content_type) == (name, content_type)
    if upload.kind.image_format:  # images are always written again, without anything but their pixels
        with Image.open(io.BytesIO(content_of(upload))) as image:
            assert image.format == upload.kind.image_format and image.size == (64, 48)
    else:
        assert content_of(upload) == content
    assert (upload.size, upload.sha256) == (len(content_of(upload)), hashlib.sha256(content_of(upload)).hexdigest())


def test_a_program_renamed_png_is_refused_naming_the_file_and_what_it_is():
    with pytest.raises(ValidationError) as refused:
        attachments.inspect(make_upload("screenshot.png", EXE, content_type="image/png"))
    assert refused.value.messages == [
        "“screenshot.png” is not an allowed type: its content is EXE (application/x-msdownload). "
        "Allowed: PNG, JPEG, GIF, WebP, PDF, plain text or logs, CSV, and ZIP."
    ]


@pytest.mark.parametrize("name, content", [("page.png", HTML_PAGE), ("notes.txt", HTML_PAGE),
                                           ("logo.png", SVG_WITH_SCRIPT), ("logo.txt", b"  \n" + SVG_WITH_SCRIPT),
                                           ("feed.txt", b'<?xml version="1.0"?><svg/>')])
def test_html_svg_and_xml_are_refused_whatever_the_name(name, content):
    with pytest.raises(ValidationError) as refused:
        attachments.inspect(make_upload(name, content, content_type="text/plain"))
    assert refused.value.messages == [
        f"“{name}” is not an allowed type: its content is a web page or markup (HTML, SVG or XML), "
        "which a browser could run. Put it in a ZIP archive to attach it."
    ]


@pytest.mark.parametrize("content", [b"\x00\x01\x02binary", "café".encode("latin-1")])
def test_binary_without_an_allowed_format_is_refused(content):
    with pytest.raises(ValidationError, match="“blob.txt” is not an allowed type: its content is neither"):
        attachments.inspect(make_upload("blob.txt", content))


def test_a_broken_image_is_refused():
    truncated = image_bytes()[:60]
    with pytest.raises(ValidationError) as refused:
        attachments.inspect(make_upload("screen.png", truncated))
    assert refused.value.messages == ["“screen.png” is not a readable PNG image."]


def test_an_image_of_too_many_pixels_is_refused_before_it_is_decoded(monkeypatch):
    monkeypatch.setattr(attachments, "MAX_PIXELS", 3000)
    with pytest.raises(ValidationError, match=r"“huge.png” is 64 × 48 pixels; images may have at most 0.003 million"):
        attachments.inspect(make_upload("huge.png"))
    monkeypatch.setattr(attachments, "MAX_PIXELS", 1000)
    with pytest.raises(ValidationError, match=r"“huge.png” has more than twice the pixels allowed"):
        attachments.inspect(make_upload("huge.png"))


def test_a_file_over_the_size_limit_is_refused_before_it_is_read(settings):
    settings.ATTACHMENT_MAX_FILE_SIZE = 10 * 1024 * 1024
    with pytest.raises(ValidationError) as refused:
        attachments.inspect(make_upload("dump.log", b"x" * (15 * 1024 * 1024)))
    assert refused.value.messages == ["“dump.log” is 15 MB; a file may be at most 10 MB."]


def test_an_empty_file_is_refused():
    with pytest.raises(ValidationError, match="“empty.log” is empty."):
        attachments.inspect(make_upload("empty.log", b""))


@pytest.mark.parametrize("given, shown", [
    ("../../etc/passwd.txt", "passwd.txt"),
    ("C:\\Users\\me\\log.txt", "log.txt"),
    ("<img src=x onerror=alert(1)>.txt", "attachment.txt"),
    ("notes.txt. . ", "notes.txt"),
    ("report  \n final.txt", "report final.txt"),
    ("x" * 300 + ".txt", "x" * 196 + ".txt"),
    ("   ", "attachment.txt"),
    ("screenshot.png", "screenshot.png.txt"),
    ("README", "README.txt"),
])
def test_the_name_is_kept_only_as_clean_display_text_that_says_what_the_file_is(given, shown):
    assert attachments.inspect(make_upload(given, b"plain text\n")).name == shown


def test_jpeg_exif_and_location_are_stripped_and_orientation_applied():
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: rotate 90° clockwise to display
    exif[0x010F] = "PhoneMaker"
    rotated = image_bytes(format="JPEG", size=(40, 20), exif=exif.tobytes())

    for content in (jpeg_with_location(), rotated):
        upload = attachments.inspect(make_upload("photo.jpg", content))
        with Image.open(io.BytesIO(content_of(upload))) as image:
            assert not image.getexif()
            assert "exif" not in image.info
        assert b"PhoneMaker" not in content_of(upload) and b"Exif" not in content_of(upload)
    with Image.open(io.BytesIO(content_of(upload))) as upright:
        assert upright.size == (20, 40)


def test_png_text_and_gif_comments_are_stripped():
    info = PngImagePlugin.PngInfo()
    info.add_text("Author", "Riley at home")
    png = attachments.inspect(make_upload("screen.png", image_bytes(pnginfo=info)))
    gif = attachments.inspect(make_upload("anim.gif", image_bytes(format="GIF", comment=b"Riley at home")))
    for upload in (png, gif):
        assert b"Riley" not in content_of(upload)
        with Image.open(io.BytesIO(content_of(upload))) as image:
            assert image.size == (64, 48)


def test_webp_exif_goes_colour_profiles_stay_and_animations_keep_their_first_frame():
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"
    webp = attachments.inspect(make_upload("shot.webp", image_bytes(format="WEBP", exif=exif.tobytes())))
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    jpeg = attachments.inspect(make_upload("photo.jpg", image_bytes(format="JPEG", exif=exif.tobytes(), icc_profile=srgb)))
    frames = [Image.new("RGB", (16, 16), color) for color in ("red", "blue", "green")]
    output = io.BytesIO()
    frames[0].save(output, "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0, comment=b"Riley")
    gif = attachments.inspect(make_upload("anim.gif", output.getvalue()))

    assert b"PhoneMaker" not in content_of(webp) + content_of(jpeg) and b"Riley" not in content_of(gif)
    with Image.open(io.BytesIO(content_of(jpeg))) as image:
        assert image.info["icc_profile"] == srgb
    with Image.open(io.BytesIO(content_of(gif))) as image:
        assert getattr(image, "n_frames", 1) == 1


def test_a_file_that_cannot_be_removed_is_logged_for_the_orphans_command(monkeypatch, caplog):
    class ReadOnlyStorage:
        def delete(self, name):
            raise PermissionError(name)

    monkeypatch.setattr(attachments, "default_storage", ReadOnlyStorage())
    attachments.discard(["attachments/a", "attachments/b"])
    assert [record.args for record in caplog.records] == [("attachments/a",), ("attachments/b",)]


def test_several_refusals_are_reported_together():
    with pytest.raises(ValidationError) as refused:
        attachments.inspect_all([make_upload("a.png", EXE), make_upload("ok.png"), make_upload("b.txt", b"")])
    assert [message[:7] for message in refused.value.message_dict["attachments"]] == ["“a.png”", "“b.txt”"]


# --- Services ---------------------------------------------------------------------------

def test_report_with_files_stores_them_under_random_names_and_audits_them(reporter, settings):
    png, log = image_bytes(), LOG
    uploads = [make_upload("error.png", png), make_upload("app.log", log, content_type="text/plain")]
    incident, created = incident_create(reporter=reporter, title="Payroll error", description="See the screenshot.",
                                        files=uploads)
    assert created
    rows = list(incident.attachments.all())
    assert [(row.name, row.content_type, row.size, row.sha256, row.comment, row.uploaded_by) for row in rows] == [
        ("error.png", "image/png", len(png), hashlib.sha256(png).hexdigest(), None, reporter),
        ("app.log", "text/plain; charset=utf-8", len(log), hashlib.sha256(log).hexdigest(), None, reporter),
    ]
    files = stored_files(settings)
    assert sorted(f"{attachments.FOLDER}/{file.name}" for file in files) == sorted(row.stored_name for row in rows)
    assert all("error" not in file.name and "." not in file.name for file in files)
    assert {file.read_bytes() for file in files} == {png, log}
    entry = AuditLog.objects.get(action=Action.INCIDENT_REPORTED)
    assert entry.changes["attachments"] == [None, [row.description() for row in rows]]


def test_a_refused_file_refuses_the_whole_report_and_stores_nothing(reporter, settings):
    with pytest.raises(ValidationError) as refused:
        incident_create(reporter=reporter, title="Payroll error", description="See files.",
                        files=[make_upload("fine.png"), make_upload("setup.png", EXE)])
    assert refused.value.message_dict["attachments"][0].startswith("“setup.png” is not an allowed type")
    assert not Incident.objects.exists() and not Attachment.objects.exists() and not AuditLog.objects.exists()
    assert stored_files(settings) == []


def test_files_past_the_incidents_total_are_refused_with_the_comment(reporter, settings):
    settings.ATTACHMENT_MAX_INCIDENT_SIZE = 1000
    incident, _ = incident_create(reporter=reporter, title="Disk full", description="Logs attached.",
                                  files=[make_upload("one.log", b"a" * 600)])
    with pytest.raises(ValidationError) as refused:
        comment_add(incident, author=reporter, body="Another one", files=[make_upload("two.log", b"b" * 600)])
    assert refused.value.message_dict == {"attachments": [
        "“two.log” would bring this incident's attachments to 0 MB; an incident may have at most 0 MB."
    ]}
    assert not Comment.objects.exists()
    assert incident.attachments.count() == 1 and len(stored_files(settings)) == 1


def test_files_written_before_a_failure_are_removed_again(reporter, settings, monkeypatch):
    """The audit row fails after the files were written: the transaction rolls back and the files go too."""
    def failing_audit(*args, **kwargs):
        raise RuntimeError("audit chain unavailable")

    monkeypatch.setattr("incidents.services.audit_record", failing_audit)
    with pytest.raises(RuntimeError):
        incident_create(reporter=reporter, title="Payroll error", description="See files.",
                        files=[make_upload("a.png"), make_upload("b.log", LOG)])
    assert not Incident.objects.exists() and not Attachment.objects.exists()
    assert stored_files(settings) == []


def test_a_resubmitted_report_stores_its_files_once(reporter, settings):
    report = {"reporter": reporter, "title": "Printer", "description": "Jammed."}
    first, _ = incident_create(**report, files=[make_upload("jam.png")], submission_token=uuid.uuid4())
    for token in (first.submission_token, uuid.uuid4()):
        again, created = incident_create(**report, files=[make_upload("jam.png")], submission_token=token)
        assert not created and again == first
    assert Attachment.objects.count() == 1 and len(stored_files(settings)) == 1


def test_files_on_an_internal_note_are_internal(reporter, responder):
    incident = make_incident(reporter=reporter)
    note = comment_add(incident, author=responder, body="Server log", internal=True,
                       files=[make_upload("server.log", LOG)])
    public = comment_add(incident, author=responder, body="Try this", files=[make_upload("steps.txt", b"Reboot.\n")])
    assert [a.name for a in Attachment.objects.visible_to(responder)] == ["server.log", "steps.txt"]
    assert [a.name for a in Attachment.objects.visible_to(reporter)] == ["steps.txt"]
    assert AuditLog.objects.get(action=Action.INCIDENT_NOTE_ADDED).changes["attachments"][1][0]["name"] == "server.log"
    assert note.attachments.get().comment == note and public.attachments.get().comment == public


def test_another_reporters_attachments_are_not_visible(reporter, other_reporter):
    incident, _ = incident_create(reporter=reporter, title="VPN", description="Down.", files=[make_upload()])
    assert not Attachment.objects.visible_to(other_reporter).exists()
    assert Attachment.objects.visible_to(reporter).get().incident == incident


def test_responders_add_files_to_an_incident_or_its_comment(reporter, responder):
    incident = make_incident(reporter=reporter)
    comment = make_comment(incident=incident, author=reporter)
    added = attachment_add(incident, actor=responder, files=[make_upload("trace.log", LOG)], comment=comment)
    assert added[0].comment == comment
    entry = AuditLog.objects.get(action=Action.ATTACHMENT_ADDED)
    assert entry.changes == {"attachment": [None, added[0].description()], "comment": [None, comment.pk]}
    with pytest.raises(PermissionDenied):
        attachment_add(incident, actor=reporter, files=[make_upload()])
    other = make_comment(incident=make_incident(reporter=reporter), author=reporter)
    with pytest.raises(ValidationError, match="This comment belongs to another incident."):
        attachment_add(incident, actor=responder, files=[make_upload()], comment=other)


def test_removal_is_for_responders_audited_with_name_and_hash_and_deletes_the_file(
        reporter, responder, settings, django_capture_on_commit_callbacks):
    incident, _ = incident_create(reporter=reporter, title="VPN", description="Down.", files=[make_upload("vpn.png")])
    attachment = incident.attachments.get()
    with pytest.raises(PermissionDenied):
        attachment_remove(attachment, actor=reporter)
    with django_capture_on_commit_callbacks(execute=True):
        attachment_remove(attachment, actor=responder)
    assert not Attachment.objects.exists() and stored_files(settings) == []
    entry = AuditLog.objects.get(action=Action.ATTACHMENT_REMOVED)
    assert entry.changes["attachment"][0]["name"] == "vpn.png"
    assert entry.changes["attachment"][0]["sha256"] == hashlib.sha256(image_bytes()).hexdigest()


# --- manage.py attachment_orphans ---------------------------------------------------------

def test_orphans_are_listed_then_removed_and_attached_or_recent_files_are_kept(reporter, settings, capsys):
    incident_create(reporter=reporter, title="VPN", description="Down.", files=[make_upload()])
    folder = Path(settings.MEDIA_ROOT) / attachments.FOLDER
    orphan, recent = folder / "abandoned", folder / "fresh"
    orphan.write_bytes(b"left by a killed upload")
    recent.write_bytes(b"upload in progress")
    two_hours_ago = (timezone.now() - timedelta(hours=2)).timestamp()
    os.utime(orphan, (two_hours_ago, two_hours_ago))

    call_command("attachment_orphans")
    listed = capsys.readouterr().out
    assert f"{attachments.FOLDER}/abandoned" in listed and "fresh" not in listed
    assert "1 orphan file(s) found (run with --remove to delete them)." in listed
    assert orphan.exists()

    call_command("attachment_orphans", "--remove")
    assert "1 orphan file(s) removed." in capsys.readouterr().out
    assert not orphan.exists() and recent.exists() and len(stored_files(settings)) == 2


def test_orphans_with_no_file_ever_stored_is_nothing(capsys):
    call_command("attachment_orphans")
    assert "0 orphan file(s) found" in capsys.readouterr().out


def test_without_a_bucket_or_a_persistent_disk_an_upload_is_refused_with_a_message_and_nothing_is_filed(
        reporter_client, settings):
    """On a platform that replaces the disk at each deploy, a file accepted today would be gone tomorrow."""
    settings.MEDIA_PERSISTENT = False
    settings.AWS_STORAGE_BUCKET_NAME = ""
    response = reporter_client.post("/incidents/new/", {
        "title": "Screen broken", "description": "See the photo", "severity": 3,
        "submission_token": str(uuid.uuid4()), "attachments": [make_upload("photo.png", image_bytes())]})
    assert response.status_code == 200
    assert "cannot keep attachments" in response.content.decode()
    assert not Incident.objects.exists()
    assert stored_files(settings) == []
