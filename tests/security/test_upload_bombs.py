"""
Upload bombs: small files that decode to hundreds of megabytes. The image work runs in
its own process with a memory and a time limit (incidents/image_worker.py); these tests
send the bombs through a fresh process and measure its peak memory and its child's.
`pytest -s` prints the figures.
"""
from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.urls import reverse
from PIL import Image

from incidents import attachments
from incidents.models import Attachment, Incident
from tests.factories import image_bytes, make_upload

from .bombs import gif_bomb, png_bomb

pytestmark = pytest.mark.django_db

PEAK_LIMIT_MB = 150
# What the web process may grow by while an upload is checked: chunks, not images.
WEB_GROWTH_LIMIT_MB = 20


def probe(tmp_path: Path, name: str, content: bytes) -> dict:
    source = tmp_path / name
    source.write_bytes(content)
    result = subprocess.run([sys.executable, "-m", "tests.security.image_probe", str(source), name],
                            cwd=settings.BASE_DIR, capture_output=True, text=True, timeout=300, check=True)
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    print(f"\n{name} ({len(content) // 1024} KB): {figures}")
    return figures


@pytest.mark.parametrize("name, content", [
    ("orientation-7000x7000.png", png_bomb(7000, 7000)),
    ("frames-1000x1000x300.gif", gif_bomb(1000, 1000, 300)),
])
def test_image_bombs_are_refused_within_the_memory_bound(tmp_path, name, content, tally):
    figures = probe(tmp_path, name, content)
    assert figures["refused"] is not None
    assert figures["worker_peak_mb"] < PEAK_LIMIT_MB
    assert figures["web_process_growth_mb"] < WEB_GROWTH_LIMIT_MB
    tally("upload bombs", "decompression bombs", 1)


def test_a_long_small_animation_keeps_its_first_frame_within_the_memory_bound(tmp_path):
    figures = probe(tmp_path, "frames-200x200x300.gif", gif_bomb(200, 200, 300))
    assert figures["refused"] is None
    assert figures["worker_peak_mb"] < PEAK_LIMIT_MB
    assert figures["web_process_growth_mb"] < WEB_GROWTH_LIMIT_MB


def test_a_screenshot_at_the_pixel_cap_with_an_orientation_tag_is_processed_within_the_memory_bound(tmp_path):
    figures = probe(tmp_path, "orientation-5000x5000.png", png_bomb(5000, 5000))
    assert figures["refused"] is None
    assert figures["web_process_growth_mb"] < WEB_GROWTH_LIMIT_MB


def test_the_pixel_cap_and_pillows_own_cap_are_at_most_25_million():
    assert attachments.MAX_PIXELS <= 25_000_000
    assert Image.MAX_IMAGE_PIXELS == attachments.MAX_PIXELS


def test_an_animation_is_stored_as_its_first_frame():
    frames = [Image.new("RGB", (16, 16), color) for color in ("red", "blue", "green")]
    output = io.BytesIO()
    frames[0].save(output, "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    upload = attachments.inspect(make_upload("anim.gif", output.getvalue()))
    with Image.open(upload.file) as image:
        assert getattr(image, "n_frames", 1) == 1
        assert image.convert("RGB").getpixel((0, 0)) == (255, 0, 0)


def test_bytes_after_the_image_and_unknown_chunks_are_not_kept():
    hidden = image_bytes() + b"Riley's home address, after IEND"
    upload = attachments.inspect(make_upload("screen.png", hidden))
    upload.file.seek(0)
    assert b"Riley" not in upload.file.read()


def test_too_many_files_are_refused_before_any_is_read(reporter_client, monkeypatch):
    def never(*args, **kwargs):
        raise AssertionError("a file was read")

    monkeypatch.setattr(attachments, "inspect", never)
    files = [make_upload(f"shot{number}.png") for number in range(settings.ATTACHMENT_MAX_FILES + 1)]
    response = reporter_client.post(reverse("incidents:create"), {
        "title": "Many files", "description": "x", "severity": 3, "attachments": files,
        "submission_token": "6f1d7c52-2a51-4c1b-9a0e-6a3c8f0d2b11",
    })
    assert response.status_code == 200
    assert "at most 10 can be attached at once" in response.content.decode()
    assert not Incident.objects.exists() and not Attachment.objects.exists()


def test_files_over_the_incident_total_are_refused_before_any_is_read(reporter_client, monkeypatch, settings):
    settings.ATTACHMENT_MAX_INCIDENT_SIZE = 1000
    monkeypatch.setattr(attachments, "inspect", lambda file: pytest.fail("a file was read"))
    files = [make_upload(f"log{number}.log", b"x" * 600) for number in range(2)]
    response = reporter_client.post(reverse("incidents:create"), {
        "title": "Big files", "description": "x", "severity": 3, "attachments": files,
        "submission_token": "6f1d7c52-2a51-4c1b-9a0e-6a3c8f0d2b12",
    })
    assert "an incident may have at most" in response.content.decode()
    assert not Incident.objects.exists()
