"""Plain builders with keyword defaults: each test states only what it cares about."""
from __future__ import annotations

import io
from datetime import timedelta
from typing import Any

from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone
from PIL import Image
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.models import BackupCode, BackupCodeDevice, User, backup_code_digest
from incidents.models import Category, Comment, Incident, Severity
from incidents.workflow import Status

DEFAULT_PASSWORD = "correct-horse-battery-staple"


def make_user(*, username: str = "user", password: str = DEFAULT_PASSWORD, **fields: Any) -> User:
    fields.setdefault("email", f"{username}@example.com")
    return User.objects.create_user(username=username, password=password, **fields)


def make_totp_device(*, user: User, confirmed: bool = True) -> TOTPDevice:
    return TOTPDevice.objects.create(user=user, name="Authenticator app", confirmed=confirmed)


def totp_code(device: TOTPDevice, *, steps_ahead: int = 0) -> str:
    """The code the user's app shows now (or `steps_ahead` periods later, to sign in twice within one period)."""
    return f"{totp(device.bin_key, device.step, device.t0, device.digits, drift=steps_ahead):06d}"


def make_backup_codes(*, user: User, codes: tuple[str, ...] = ("backup01", "backup02")) -> BackupCodeDevice:
    """Backup codes stored as the product stores them: only their hashes."""
    device = BackupCodeDevice.objects.create(user=user, name="Backup codes", confirmed=True)
    BackupCode.objects.bulk_create(BackupCode(device=device, code_hash=backup_code_digest(code)) for code in codes)
    return device


def make_category(*, name: str = "Network", **fields: Any) -> Category:
    return Category.objects.create(name=name, **fields)


def make_incident(
    *, reporter: User, title: str = "VPN is down", description: str = "<p>Cannot connect since 9:00.</p>",
    severity: int = Severity.SEV3, status: str = Status.OPEN, **fields: Any
) -> Incident:
    """Writes the row directly (bypassing services) to set up a state; tests of behaviour use the services."""
    if status in (Status.RESOLVED, Status.CLOSED):
        fields.setdefault("resolved_at", timezone.now())
    if status == Status.CLOSED:
        fields.setdefault("closed_at", timezone.now())
    return Incident.objects.create(
        reporter=reporter, title=title, description=description, severity=severity, status=status, **fields
    )


def make_comment(
    *, incident: Incident, author: User, body: str = "<p>Looking into it.</p>", internal: bool = False
) -> Comment:
    return Comment.objects.create(incident=incident, author=author, body=body, internal=internal)


def make_incidents(count: int, *, reporter: User, **fields: Any) -> list[Incident]:
    """`count` incidents one minute apart, oldest first, titled "Incident 0".."Incident N-1"."""
    start = timezone.now() - timedelta(minutes=count)
    return [
        make_incident(reporter=reporter, title=f"Incident {number}", created_at=start + timedelta(minutes=number), **fields)
        for number in range(count)
    ]


def image_bytes(*, format: str = "PNG", size: tuple[int, int] = (64, 48), color: str = "teal", **save: Any) -> bytes:
    """A small real image; `save` passes Pillow options (exif=..., comment=..., pnginfo=...)."""
    output = io.BytesIO()
    Image.new("RGB", size, color).save(output, format, **save)
    return output.getvalue()


def jpeg_with_location() -> bytes:
    """A JPEG whose EXIF names the camera and the place it was taken (GPS)."""
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"  # Make
    exif[0x0110] = "Model X"  # Model
    gps = exif.get_ifd(0x8825)
    gps.update({1: "N", 2: (48.0, 51.0, 29.0), 3: "E", 4: (2.0, 17.0, 40.0)})
    return image_bytes(format="JPEG", exif=exif.tobytes())


def make_upload(name: str = "screenshot.png", content: bytes | None = None, *,
                content_type: str = "image/png") -> SimpleUploadedFile:
    """A file as a form would receive it; the browser's claimed type is what `content_type` says."""
    return SimpleUploadedFile(name, image_bytes() if content is None else content, content_type=content_type)


def make_shared_word_incidents(reporter: User) -> dict[str, list[int]]:
    """
    260 incidents whose text holds "quokka", 130 of them "wombat" too, reported a minute
    apart (some at the same minute), of every severity, some with the word in the title.
    """
    start = timezone.now() - timedelta(days=30)
    incidents = Incident.objects.bulk_create(
        Incident(reporter=reporter, severity=1 + number % 4, created_at=start + timedelta(minutes=number - number % 7 // 6),
                 title=f"Quokka {number}" if number % 5 == 0 else f"Report {number}",
                 description=f"<p>The quokka{' wombat' if number % 2 else ''} case {' quokka' * (number % 3)}.</p>")
        for number in range(260)
    )
    make_incident(reporter=reporter, title="Unrelated wombat")
    return {"quokka": [incident.pk for incident in incidents],
            "quokka wombat": [incident.pk for number, incident in enumerate(incidents) if number % 2]}
