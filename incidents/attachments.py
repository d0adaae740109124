"""
What an uploaded file is, and where its bytes live.

The type is decided by the content, never by the file's name or the browser's claim:
`filetype` reads the signature of binary formats, and anything without one must be
UTF-8 text. Text a browser would take for a page (it starts like HTML, SVG or XML, as
the WHATWG MIME Sniffing standard lists) is refused: such a file is not a log. Images
are opened with Pillow, which proves they decode, and re-encoded without their metadata
(EXIF, GPS position, XMP, comments) when they carry any; an image without metadata is
kept byte for byte.

Files are stored through Django's default storage (STORAGES["default"]: the filesystem
under MEDIA_ROOT, or S3-compatible object storage) under random names in FOLDER. The
name a person gave a file is kept only as cleaned display text on the Attachment row.
Nothing here is ever served from a public URL: incidents.views.AttachmentDownloadView
serves a file after checking who may see it.
"""
from __future__ import annotations

import hashlib
import io
import logging
import re
import secrets
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import filetype
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile, File
from django.core.files.storage import default_storage
from PIL import Image, ImageOps, UnidentifiedImageError

from common.text import clean_plain_text

log = logging.getLogger(__name__)

FOLDER = "attachments"
NAME_MAX_LENGTH = 200
# A screenshot of an 8K screen is 33 million pixels; more is a decompression bomb, not a screenshot.
MAX_PIXELS = 50_000_000


@dataclass(frozen=True)
class Kind:
    label: str
    content_type: str
    extensions: tuple[str, ...]
    # Pillow's name for a raster image format; only these may be shown inline.
    image_format: str = ""


KINDS = {
    "image/png": Kind("PNG image", "image/png", ("png",), "PNG"),
    "image/jpeg": Kind("JPEG image", "image/jpeg", ("jpg", "jpeg"), "JPEG"),
    "image/gif": Kind("GIF image", "image/gif", ("gif",), "GIF"),
    "image/webp": Kind("WebP image", "image/webp", ("webp",), "WEBP"),
    "application/pdf": Kind("PDF document", "application/pdf", ("pdf",)),
    "application/zip": Kind("ZIP archive", "application/zip", ("zip",)),
    "text/plain": Kind("text", "text/plain; charset=utf-8", ("txt", "log")),
    "text/csv": Kind("CSV", "text/csv; charset=utf-8", ("csv",)),
}
RASTER_CONTENT_TYPES = frozenset(kind.content_type for kind in KINDS.values() if kind.image_format)
ALLOWED = "PNG, JPEG, GIF, WebP, PDF, plain text or logs, CSV, and ZIP"

# Control characters that text and logs do not contain (tab, line feed, form feed,
# carriage return and escape, for coloured logs, are allowed).
BINARY_CHARACTERS = re.compile(r"[\x00-\x08\x0b\x0e-\x1a\x1c-\x1f\x7f]")
# What makes a browser sniff text as a page (MIME Sniffing standard, "identifying a
# resource with an unknown MIME type"), plus SVG.
MARKUP_START = re.compile(
    r"\A\s*(?:<(?:!doctype\s+html|html|head|script|iframe|h1|div|font|table|a|style|title|b|body|br|p|svg)[\s/>]"
    r"|<!--|<\?xml)",
    re.IGNORECASE,
)
# Image information that is not about the person or the place: kept when re-encoding,
# and an image with nothing else is stored unchanged.
HARMLESS_IMAGE_INFO = frozenset({
    "dpi", "gamma", "srgb", "chromaticity", "transparency", "aspect", "interlace", "icc_profile", "jfif",
    "jfif_version", "jfif_unit", "jfif_density", "adobe", "adobe_transform", "progressive", "progression",
    "duration", "timestamp", "loop", "background", "version", "disposal", "blend", "default_image",
})


@dataclass(frozen=True)
class Upload:
    """An accepted file, ready to store: its display name, kind and final content."""

    name: str
    kind: Kind
    content: bytes

    @property
    def size(self) -> int:
        return len(self.content)

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.content).hexdigest()


def megabytes(size: int) -> str:
    return f"{size / (1024 * 1024):.1f} MB".replace(".0 MB", " MB")


def display_name(name: str) -> str:
    """The file's own name as plain text, without any folder, at most NAME_MAX_LENGTH characters."""
    base = clean_plain_text(re.split(r"[\\/]", name or "")[-1]).rstrip(". ")
    if base.startswith("."):  # nothing before the extension: no hidden file, a plain name
        base = f"attachment{base}"
    if len(base) > NAME_MAX_LENGTH:
        stem, dot, extension = base.rpartition(".")
        keep = NAME_MAX_LENGTH - len(extension) - 1
        base = f"{stem[:keep]}.{extension}" if dot and 0 < len(extension) < 10 else base[:NAME_MAX_LENGTH]
    return base or "attachment"


NO_DURABLE_STORAGE = ("This server cannot keep attachments yet: it has no bucket, and its own disk is not declared "
                      "persistent. Paste the text into the description, or ask an administrator to set "
                      "AWS_STORAGE_BUCKET_NAME or MEDIA_PERSISTENT.")


def refuse_unless_durable(files: list[File]) -> None:
    """A file is only taken where it outlives the next deploy: a bucket, or a disk an operator declared persistent."""
    if files and not (settings.AWS_STORAGE_BUCKET_NAME or settings.MEDIA_PERSISTENT):
        raise ValidationError({"attachments": [NO_DURABLE_STORAGE]})


def inspect_all(files: Iterable[File]) -> list[Upload]:
    """
    Each uploaded file checked and prepared, or one ValidationError for the
    `attachments` field naming every refused file and why.
    """
    files = list(files)
    refuse_unless_durable(files)
    uploads, errors = [], []
    for file in files:
        try:
            uploads.append(inspect(file))
        except ValidationError as error:
            errors.extend(error.messages)
    if errors:
        raise ValidationError({"attachments": errors})
    return uploads


def inspect(file: File) -> Upload:
    """One uploaded file, accepted or refused with a reason naming it."""
    name = display_name(str(file.name or ""))
    size = file.size
    limit = settings.ATTACHMENT_MAX_FILE_SIZE
    if size > limit:
        raise ValidationError(f"“{name}” is {megabytes(size)}; a file may be at most {megabytes(limit)}.")
    file.seek(0)
    content = file.read()
    if not content:
        raise ValidationError(f"“{name}” is empty.")
    kind = _kind_of(name, content)
    if kind.image_format:
        content = _without_metadata(name, kind, content)
    if name.rpartition(".")[2].lower() not in kind.extensions or "." not in name:
        # The name says what the file is when it is saved: "screenshot.png" holding text downloads as text.
        name = display_name(f"{name}.{kind.extensions[0]}")
    return Upload(name=name, kind=kind, content=content)


def _kind_of(name: str, content: bytes) -> Kind:
    guess = filetype.guess(content)
    if guess is not None:
        if guess.mime in KINDS:
            return KINDS[guess.mime]
        raise ValidationError(
            f"“{name}” is not an allowed type: its content is {guess.extension.upper()} ({guess.mime}). "
            f"Allowed: {ALLOWED}."
        )
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = None
    if text is None or BINARY_CHARACTERS.search(text):
        raise ValidationError(
            f"“{name}” is not an allowed type: its content is neither an allowed format nor UTF-8 text. Allowed: {ALLOWED}."
        )
    if MARKUP_START.match(text):
        raise ValidationError(
            f"“{name}” is not an allowed type: its content is a web page or markup (HTML, SVG or XML), "
            "which a browser could run. Put it in a ZIP archive to attach it."
        )
    return KINDS["text/csv" if name.lower().endswith(".csv") else "text/plain"]


def _without_metadata(name: str, kind: Kind, content: bytes) -> bytes:
    """The image, proved to decode, re-encoded without metadata if it had any (else unchanged)."""
    unreadable = ValidationError(f"“{name}” is not a readable {kind.label}.")
    try:
        # Decoded as the format the signature named, never as any other Pillow could guess.
        with Image.open(io.BytesIO(content), formats=[kind.image_format]) as image:
            if image.width * image.height > MAX_PIXELS:
                raise ValidationError(
                    f"“{name}” is {image.width} × {image.height} pixels; images may have at most "
                    f"{MAX_PIXELS // 1_000_000} million pixels."
                )
            image.load()
            if not image.getexif() and set(image.info) <= HARMLESS_IMAGE_INFO:
                return content
            return _reencoded(image, kind)
    except (OSError, SyntaxError, ValueError, UnidentifiedImageError, Image.DecompressionBombError) as error:
        raise unreadable from error


def _reencoded(image: Image.Image, kind: Kind) -> bytes:
    frames = getattr(image, "n_frames", 1)
    # The orientation tag goes with the rest of EXIF, so it is applied to the pixels first.
    upright = ImageOps.exif_transpose(image) if frames == 1 else image
    upright.info = {key: value for key, value in image.info.items() if key in HARMLESS_IMAGE_INFO}
    options: dict[str, Any] = {"exif": b""}
    if "icc_profile" in upright.info:
        options["icc_profile"] = upright.info["icc_profile"]
    if kind.image_format == "JPEG":
        options["quality"] = 95
    if kind.image_format == "WEBP":
        options["lossless"] = True
    if frames > 1:
        options["save_all"] = True
    output = io.BytesIO()
    upright.save(output, kind.image_format, **options)
    return output.getvalue()


def store(upload: Upload, stored: list[str]) -> str:
    """Write `upload` under a new random name, appended to `stored` (see removed_on_failure) before anything can fail."""
    name = f"{FOLDER}/{secrets.token_hex(16)}"
    stored.append(name)
    return default_storage.save(name, ContentFile(upload.content))


def discard(names: Sequence[str]) -> None:
    """Remove stored files; a file already gone is not an error (removal is idempotent)."""
    for name in names:
        try:
            default_storage.delete(name)
        except OSError:
            log.exception("could not remove attachment file %s; `manage.py attachment_orphans --remove` will", name)


@contextmanager
def removed_on_failure() -> Iterator[list[str]]:
    """
    Collects the names `store` writes; if the block fails (validation, the audit row,
    the commit itself), those files are removed again, so a refused submission leaves
    nothing behind. Wrap it around the transaction, so a failed commit counts too. A
    rollback of an enclosing transaction after the block ends cannot be seen here: such
    files are what `manage.py attachment_orphans` finds.
    """
    stored: list[str] = []
    try:
        yield stored
    except BaseException:
        discard(stored)
        raise
