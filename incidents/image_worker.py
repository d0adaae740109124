"""
Decodes one uploaded image and writes it again without metadata, in a process of its own.

incidents.attachments starts this file with a fresh interpreter for every image: the
image arrives on standard input, the clean image leaves on standard output. A decoder
is where a small file becomes a large allocation (a 100 KB PNG can claim 400 MB), so
before Pillow is even imported the process limits itself: its address space to
MEMORY_MB and its processor time to CPU_SECONDS. An image that needs more makes this
process fail, not the web worker that serves everyone else. It imports nothing from
the project (no Django), so it starts in a fraction of a second and its memory is
Pillow's alone.

Arguments: FORMAT MAX_PIXELS MAX_FRAME_PIXELS MEMORY_MB CPU_SECONDS.
Exit status 0: the image is on standard output. REFUSED: one line on standard error
says why, on the last line (`pixels W H`, `bomb`, `frames W H N` or `unreadable`). Anything else (killed by a
limit, out of memory): the image could not be processed within the limits.
"""
from __future__ import annotations

import io
import resource
import sys
import warnings
from typing import Any

REFUSED = 3
# Image information that is not about the person or the place, kept when re-encoding.
HARMLESS_IMAGE_INFO = frozenset({
    "dpi", "gamma", "srgb", "chromaticity", "transparency", "aspect", "icc_profile", "background",
})


def limit(memory_mb: int, cpu_seconds: int) -> None:
    memory = memory_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu_seconds, cpu_seconds))


def refuse(reason: str) -> int:
    sys.stderr.write(reason + "\n")
    return REFUSED


def main(argv: list[str]) -> int:
    image_format, max_pixels, max_frame_pixels, memory_mb, cpu_seconds = argv[0], *map(int, argv[1:5])
    limit(memory_mb, cpu_seconds)
    from PIL import Image, ImageOps, UnidentifiedImageError

    Image.MAX_IMAGE_PIXELS = max_pixels
    # Between one and two times the cap Pillow only warns; the size check below refuses with the dimensions.
    warnings.simplefilter("ignore", Image.DecompressionBombWarning)
    try:
        # Decoded as the format the signature named, never as any other Pillow could guess.
        with Image.open(io.BytesIO(sys.stdin.buffer.read()), formats=[image_format]) as image:
            width, height = image.size
            if width * height > max_pixels:
                return refuse(f"pixels {width} {height}")
            # Counting frames reads their headers only; no frame but the first is ever decoded.
            frames = getattr(image, "n_frames", 1)
            if width * height * frames > max_frame_pixels:
                return refuse(f"frames {width} {height} {frames}")
            image.load()
            info = {key: value for key, value in image.info.items() if key in HARMLESS_IMAGE_INFO}
            # The orientation tag goes with the rest of EXIF, so it is applied to the pixels first
            # (in place: an upright image is not copied, a turned one is held twice only while it turns).
            ImageOps.exif_transpose(image, in_place=True)
            image.info = info
            image.save(sys.stdout.buffer, image_format, **save_options(image_format, info))
    except Image.DecompressionBombError:  # more than twice the cap: Pillow refuses to open it at all
        return refuse("bomb")
    except (OSError, SyntaxError, ValueError, EOFError, UnidentifiedImageError):
        return refuse("unreadable")
    return 0


def save_options(image_format: str, info: dict[Any, object]) -> dict[str, object]:
    """Only the first frame is written; WebP lossy and at the fastest method, which costs a fraction of lossless."""
    options: dict[str, object] = {"exif": b""}
    if "icc_profile" in info:
        options["icc_profile"] = info["icc_profile"]
    if image_format == "JPEG":
        options["quality"] = 95
    if image_format == "WEBP":
        options.update(quality=90, method=0)
    return options


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
