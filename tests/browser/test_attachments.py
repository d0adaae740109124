"""Attachments in a real browser: attaching, seeing, downloading, and what a hostile file can never do."""
from __future__ import annotations

import hashlib
import io
from pathlib import Path

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.urls import reverse
from PIL import Image
from playwright.sync_api import Dialog, FilePayload, Page, expect

from incidents import attachments
from incidents.models import Attachment, Incident
from incidents.services import comment_add, incident_create
from tests.browser.steps import expect_at
from tests.browser.test_journeys import sign_in
from tests.factories import image_bytes, jpeg_with_location, make_incident, make_upload, make_user
from tests.incidents.test_attachments import EXE, HTML_PAGE, SVG_WITH_SCRIPT

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SCREENSHOT = image_bytes(size=(320, 200), color="crimson")


def stored(settings) -> list[Path]:
    folder = Path(settings.MEDIA_ROOT) / attachments.FOLDER
    return list(folder.iterdir()) if folder.exists() else []


def file_payload(name: str, content: bytes, mime: str = "application/octet-stream") -> FilePayload:
    return {"name": name, "mimeType": mime, "buffer": content}


def fill_report(page: Page, title: str, *files: FilePayload) -> None:
    page.goto("/incidents/new/")
    page.get_by_label("Title").fill(title)
    page.get_by_label("Description").fill("The payroll site shows an error; screenshot attached.")
    page.get_by_label("Attachments").set_input_files(list(files))
    page.get_by_role("button", name="Report incident").click()


def hostile_page_watch(page: Page) -> list[str]:
    """Every dialog a page opens (a script of an uploaded file running would open one), dismissed and recorded."""
    dialogs: list[str] = []

    def record(dialog: Dialog) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", record)
    return dialogs


def test_reporter_attaches_a_screenshot_sees_its_thumbnail_and_downloads_it_unchanged(new_page, screenshot, tmp_path):
    make_user(username="riley")
    page = new_page()
    sign_in(page, "riley")
    fill_report(page, "Payroll shows error 500", file_payload("payroll-error.png", SCREENSHOT, "image/png"))

    incident = Incident.objects.get()
    expect_at(page, incident.get_absolute_url(), heading=f"#{incident.pk} Payroll shows error 500",
              message=f"Incident #{incident.pk} reported.")
    thumbnail = page.get_by_role("img", name="Preview of payroll-error.png")
    expect(thumbnail).to_be_visible()
    # decode() settles once the image has loaded: the page may be shown before its thumbnail arrives.
    assert thumbnail.evaluate("image => image.decode().then(() => image.naturalWidth)") == 320
    screenshot(page, "thumbnail")

    with page.expect_download() as download_info:
        page.get_by_role("link", name="payroll-error.png", exact=True).click()
    download = download_info.value
    assert download.suggested_filename == "payroll-error.png"
    downloaded = Path(download.path()).read_bytes()
    assert hashlib.sha256(downloaded).hexdigest() == Attachment.objects.get().sha256
    with Image.open(io.BytesIO(downloaded)) as image:  # written again on upload, the same pixels
        assert image.size == (320, 200) and image.convert("RGB").getpixel((0, 0)) == (220, 20, 60)


def test_a_15_mb_file_and_a_program_renamed_png_are_refused_and_nothing_is_stored(new_page, screenshot, settings):
    make_user(username="riley")
    page = new_page()
    sign_in(page, "riley")
    fill_report(page, "Server crashed", file_payload("core-dump.log", b"x" * (15 * 1024 * 1024), "text/plain"),
                file_payload("screenshot.png", EXE, "image/png"))

    expect_at(page, "/incidents/new/", heading="Report an incident")
    errors = page.get_by_role("alert")
    expect(errors).to_contain_text("“core-dump.log” is 15 MB; a file may be at most 10 MB.")
    expect(errors).to_contain_text("“screenshot.png” is not an allowed type: its content is EXE")
    expect(page.get_by_label("Title")).to_have_value("Server crashed")
    screenshot(page, "refused")
    assert not Incident.objects.exists() and not Attachment.objects.exists() and stored(settings) == []


def test_html_and_svg_with_script_never_render_as_a_page_of_the_app(new_page, screenshot, settings):
    riley = make_user(username="riley")
    page = new_page()
    dialogs = hostile_page_watch(page)
    sign_in(page, "riley")
    for name, content in (("invoice.png", HTML_PAGE), ("notes.txt", HTML_PAGE),
                          ("logo.png", SVG_WITH_SCRIPT), ("logo.txt", SVG_WITH_SCRIPT)):
        fill_report(page, "Look at this", file_payload(name, content, "text/plain"))
        expect(page.get_by_role("alert")).to_contain_text(f"“{name}” is not an allowed type: its content is a web page")
    screenshot(page, "markup-refused")
    assert not Incident.objects.exists() and stored(settings) == []

    # Were such bytes in the storage anyway (written by an older release, or by hand), the
    # download view still serves them as a file, never as a document of this origin.
    incident = make_incident(reporter=riley, title="Planted files")
    planted = []
    for name, content_type in (("planted.png", "image/png"), ("planted.txt", "text/plain; charset=utf-8")):
        stored_name = default_storage.save(f"{attachments.FOLDER}/planted", ContentFile(HTML_PAGE + SVG_WITH_SCRIPT))
        planted.append(Attachment.objects.create(incident=incident, uploaded_by=riley, stored_name=stored_name,
                                                 name=name, content_type=content_type, size=1, sha256="0" * 64))
    page.goto(incident.get_absolute_url())
    with page.expect_download():
        page.get_by_role("link", name="planted.txt").click()
    with page.expect_download():
        page.get_by_role("link", name="planted.png").click()
    expect(page.locator("h1")).to_have_text(f"#{incident.pk} Planted files")
    screenshot(page, "planted")
    page.goto(f"{planted[0].get_absolute_url()}?inline")
    assert page.evaluate("document.querySelector('script') === null && !document.body.innerText.includes('fetch')")
    assert dialogs == []


def test_a_reporter_gets_404_for_another_reporters_and_an_internal_notes_file(new_page, screenshot):
    riley, sam = make_user(username="riley"), make_user(username="sam")
    robin = make_user(username="robin", is_staff=True)
    mine, _ = incident_create(reporter=riley, title="Mine", description="Mine.", files=[make_upload("mine.png")])
    comment_add(mine, author=robin, body="Server trace", internal=True, files=[make_upload("trace.txt", b"secret\n")])
    theirs, _ = incident_create(reporter=sam, title="Theirs", description="Theirs.", files=[make_upload("theirs.png")])

    page = new_page()
    sign_in(page, "riley")
    page.goto(mine.get_absolute_url())
    expect(page.get_by_role("img", name="Preview of mine.png")).to_be_visible()
    expect(page.get_by_text("trace.txt")).to_have_count(0)
    for attachment in (Attachment.objects.get(name="trace.txt"), Attachment.objects.get(name="theirs.png")):
        for url in (attachment.get_absolute_url(), f"{attachment.get_absolute_url()}?inline"):
            response = page.goto(url)
            assert response is not None and response.status == 404, url
            expect(page.locator("h1")).to_have_text("Page not found")
    assert theirs.attachments.exists()
    screenshot(page, "not-found")


def test_a_jpeg_attached_to_a_comment_downloads_without_exif(new_page, screenshot):
    riley = make_user(username="riley")
    incident = make_incident(reporter=riley, title="Broken screen")
    page = new_page()
    sign_in(page, "riley")
    page.goto(incident.get_absolute_url())
    page.get_by_role("textbox", name="Comment").fill("Photo of the screen")
    page.get_by_label("Attachments").set_input_files([file_payload("photo.jpg", jpeg_with_location(), "image/jpeg")])
    page.get_by_role("button", name="Post comment").click()
    expect(page.get_by_role("status")).to_contain_text("Comment added.")
    expect(page.get_by_role("img", name="Preview of photo.jpg")).to_be_visible()
    screenshot(page, "comment-photo")

    with page.expect_download() as download_info:
        page.get_by_role("link", name="photo.jpg", exact=True).click()
    content = Path(download_info.value.path()).read_bytes()
    with Image.open(io.BytesIO(content)) as photo:
        assert photo.format == "JPEG" and not photo.getexif()
    assert b"PhoneMaker" not in content and reverse("incidents:detail", args=[incident.pk]) in page.url
