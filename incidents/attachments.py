"""
What an uploaded file is, and where its bytes live.

The type is decided by the content, never by the file's name or the browser's claim:
`filetype` reads the signature of binary formats, and anything without one must be
UTF-8 text. Text a browser would take for a page (it starts like HTML, SVG or XML, as
the WHATWG MIME Sniffing standard lists) is refused: such a file is not a log. Images
are decoded and written again, always, in a process of their own with a memory and a
time limit (incidents/image_worker.py): what is kept is the first frame's pixels and a
few harmless facts (resolution, colour profile), never metadata Pillow does not parse
or bytes after the image's end.

Count and sizes are checked before any byte is read, and files are read in chunks from
where the upload put them (a temporary file), so a request cannot make this process
hold more than a chunk of any file.

Files are stored through Django's default storage (STORAGES["default"]: the filesystem
under MEDIA_ROOT, or S3-compatible object storage) under random names in FOLDER. The
name a person gave a file is kept only as cleaned display text on the Attachment row.
Nothing here is ever served from a public URL: incidents.views.AttachmentDownloadView
serves a file after checking who may see it.
"""
from __future__ import annotations

import codecs
import hashlib
import logging
import re
import secrets
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import filetype
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.base import File
from django.core.files.storage import default_storage
from PIL import Image

from common.text import clean_plain_text

from . import image_worker

log = logging.getLogger(__name__)

FOLDER = "attachments"
NAME_MAX_LENGTH = 200
# A screenshot of a 5K screen is 15 million pixels; more is a decompression bomb, not a screenshot.
MAX_PIXELS = 25_000_000
# An animation's frames are counted (only the first is kept): width × height × frames at most this.
MAX_FRAME_PIXELS = 100_000_000
# Pillow refuses, in any process, to open an image with more than twice this many pixels.
Image.MAX_IMAGE_PIXELS = MAX_PIXELS
# filetype reads signatures within the first 8 KB.
HEAD_SIZE = 8192
CHUNK_SIZE = 64 * 1024
WORKER = Path(image_worker.__file__)


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


@dataclass(frozen=True)
class Upload:
    """An accepted file, ready to store: its display name, kind, and final content as a file with its size and hash."""

    name: str
    kind: Kind
    file: File
    size: int
    sha256: str


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


def refuse_unless_durable(files: Sequence[File]) -> None:
    """A file is only taken where it outlives the next deploy: a bucket, or a disk an operator declared persistent."""
    if files and not (settings.AWS_STORAGE_BUCKET_NAME or settings.MEDIA_PERSISTENT):
        raise ValidationError({"attachments": [NO_DURABLE_STORAGE]})


def check_sizes(files: Sequence[tuple[str, int]], *, already: int = 0) -> None:
    """
    Refuse more than ATTACHMENT_MAX_FILES files, or files (display name, size) that
    together would take an incident holding `already` bytes past ATTACHMENT_MAX_INCIDENT_SIZE.
    """
    most = settings.ATTACHMENT_MAX_FILES
    if len(files) > most:
        raise ValidationError({"attachments": [f"{len(files)} files were chosen; at most {most} can be attached at once."]})
    limit = settings.ATTACHMENT_MAX_INCIDENT_SIZE
    total = already + sum(size for _, size in files)
    if total > limit:
        names = ", ".join(f"“{name}”" for name, _ in files)
        raise ValidationError({"attachments": [
            f"{names} would bring this incident's attachments to {megabytes(total)}; "
            f"an incident may have at most {megabytes(limit)}."
        ]})


def inspect_all(files: Sequence[File], *, already: int = 0) -> list[Upload]:
    """
    Each uploaded file checked and prepared, or one ValidationError for the
    `attachments` field naming every refused file and why. Count and sizes are
    checked first (see check_sizes), so a refused batch is never read.
    """
    refuse_unless_durable(files)
    check_sizes([(display_name(str(file.name or "")), file.size or 0) for file in files], already=already)
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
    size = file.size or 0
    limit = settings.ATTACHMENT_MAX_FILE_SIZE
    if size > limit:
        raise ValidationError(f"“{name}” is {megabytes(size)}; a file may be at most {megabytes(limit)}.")
    if not size:
        raise ValidationError(f"“{name}” is empty.")
    kind = _kind_of(name, file)
    content = _image_without_metadata(name, kind, file) if kind.image_format else file
    if name.rpartition(".")[2].lower() not in kind.extensions or "." not in name:
        # The name says what the file is when it is saved: "screenshot.png" holding text downloads as text.
        name = display_name(f"{name}.{kind.extensions[0]}")
    digest, final_size = hashlib.sha256(), 0
    for chunk in _chunks(content):
        digest.update(chunk)
        final_size += len(chunk)
    return Upload(name=name, kind=kind, file=content, size=final_size, sha256=digest.hexdigest())


def _chunks(file: File) -> Iterator[bytes]:
    file.seek(0)
    while chunk := file.read(CHUNK_SIZE):
        yield chunk


def _kind_of(name: str, file: File) -> Kind:
    file.seek(0)
    guess = filetype.guess(file.read(HEAD_SIZE))
    if guess is not None:
        if guess.mime in KINDS:
            return KINDS[guess.mime]
        raise ValidationError(
            f"“{name}” is not an allowed type: its content is {guess.extension.upper()} ({guess.mime}). "
            f"Allowed: {ALLOWED}."
        )
    if not _is_text(file):
        raise ValidationError(
            f"“{name}” is not an allowed type: its content is neither an allowed format nor UTF-8 text. Allowed: {ALLOWED}."
        )
    file.seek(0)
    start = file.read(HEAD_SIZE).decode("utf-8-sig", errors="ignore")
    if MARKUP_START.match(start):
        raise ValidationError(
            f"“{name}” is not an allowed type: its content is a web page or markup (HTML, SVG or XML), "
            "which a browser could run. Put it in a ZIP archive to attach it."
        )
    return KINDS["text/csv" if name.lower().endswith(".csv") else "text/plain"]


def _is_text(file: File) -> bool:
    """Whether the whole file is UTF-8 without binary control characters, read a chunk at a time."""
    decoder = codecs.getincrementaldecoder("utf-8-sig")()
    try:
        for chunk in _chunks(file):
            if BINARY_CHARACTERS.search(decoder.decode(chunk)):
                return False
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    return True


def _image_without_metadata(name: str, kind: Kind, file: File) -> File:
    """
    The image decoded and written again by incidents/image_worker.py, within
    ATTACHMENT_IMAGE_MEMORY_MB and ATTACHMENT_IMAGE_CPU_SECONDS, into a temporary file;
    refused with the reason when it is too large or does not decode.
    """
    output = tempfile.TemporaryFile()
    command = [sys.executable, "-I", str(WORKER), kind.image_format, str(MAX_PIXELS), str(MAX_FRAME_PIXELS),
               str(settings.ATTACHMENT_IMAGE_MEMORY_MB), str(settings.ATTACHMENT_IMAGE_CPU_SECONDS)]
    try:
        with _source(file) as source:
            result = subprocess.run(command, stdin=source, stdout=output, stderr=subprocess.PIPE,
                                    timeout=settings.ATTACHMENT_IMAGE_CPU_SECONDS * 2, check=False)
    except subprocess.TimeoutExpired:
        output.close()
        raise ValidationError(f"“{name}” took too long to process; attach a smaller image.") from None
    if result.returncode != 0:
        output.close()
        raise ValidationError(_refusal(name, kind, result.returncode, result.stderr.decode(errors="replace")))
    return File(output)


@contextmanager
def _source(file: File) -> Iterator[IO[bytes]]:
    """What the worker reads: the upload's own temporary file when it has one, else a copy in a temporary file."""
    path = getattr(file, "temporary_file_path", None)
    if path is not None:
        with open(path(), "rb") as source:
            yield source
        return
    with tempfile.TemporaryFile() as spooled:
        for chunk in _chunks(file):
            spooled.write(chunk)
        spooled.seek(0)
        yield spooled


def _refusal(name: str, kind: Kind, returncode: int, reason: str) -> str:
    words = (reason.strip().splitlines() or [""])[-1].split()
    most = f"images may have at most {MAX_PIXELS / 1_000_000:g} million pixels."
    if returncode == image_worker.REFUSED and words[:1] == ["pixels"]:
        return f"“{name}” is {words[1]} × {words[2]} pixels; {most}"
    if returncode == image_worker.REFUSED and words[:1] == ["bomb"]:
        return f"“{name}” has more than twice the pixels allowed; {most}"
    if returncode == image_worker.REFUSED and words[:1] == ["frames"]:
        return (f"“{name}” is an animation of {words[3]} frames of {words[1]} × {words[2]} pixels; "
                f"attach a shorter or smaller one, or a still image (only the first frame is kept).")
    if returncode == image_worker.REFUSED:
        return f"“{name}” is not a readable {kind.label}."
    log.warning("image worker for %s ended with status %s: %s", kind.label, returncode, reason.strip()[-300:])
    return f"“{name}” needs more memory or time to process than an attachment may use; attach a smaller image."


def store(upload: Upload, stored: list[str]) -> str:
    """Write `upload` under a new random name, appended to `stored` (see removed_on_failure) before anything can fail."""
    name = f"{FOLDER}/{secrets.token_hex(16)}"
    stored.append(name)
    return default_storage.save(name, upload.file)


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
