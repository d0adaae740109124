"""
Decompression bombs, written without ever holding their pixels: a PNG whose rows of
zeros compress to almost nothing, and a GIF whose two small frames alternate hundreds
of times. Each is a small upload that a naive decoder turns into hundreds of megabytes.
"""
from __future__ import annotations

import io
import struct
import zlib

from PIL import Image

ORIENTATION = 0x0112


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_bomb(width: int, height: int) -> bytes:
    """An RGB PNG of `width` × `height` black pixels with an EXIF orientation tag (rotate 90°)."""
    exif = Image.Exif()
    exif[ORIENTATION] = 6
    raw_exif = exif.tobytes().removeprefix(b"Exif\x00\x00")
    compressor = zlib.compressobj(9)
    row = b"\x00" * (1 + width * 3)  # filter type 0, then the row's pixels
    idat = b"".join(compressor.compress(row) for _ in range(height)) + compressor.flush()
    return (b"\x89PNG\r\n\x1a\n"
            + _png_chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + _png_chunk(b"eXIf", raw_exif)
            + _png_chunk(b"IDAT", idat)
            + _png_chunk(b"IEND", b""))


def _gif_parts(image: Image.Image) -> tuple[bytes, bytes]:
    """A one-frame GIF's header (with its palette) and its image block."""
    output = io.BytesIO()
    image.save(output, "GIF")
    single = output.getvalue()
    flags = single[10]
    start = 13 + (3 * 2 ** ((flags & 7) + 1) if flags & 0x80 else 0)
    while single[start] == 0x21:  # skip any extension Pillow wrote before the image
        start += 2
        while single[start]:
            start += single[start] + 1
        start += 1
    return single[:start], single[start:-1]


def gif_bomb(width: int, height: int, frames: int) -> bytes:
    """
    A GIF animation of `frames` frames, black and white in turn (so that no encoder can
    merge them), with a comment (metadata to remove).
    """
    palette = [0, 0, 0, 255, 255, 255] * 128
    blocks = []
    for colour in (0, 1):
        image = Image.new("P", (width, height), colour)
        image.putpalette(palette)
        header, block = _gif_parts(image)
        blocks.append(block)
    comment = b"\x21\xfe\x0bRiley, home\x00"
    frame_control = b"\x21\xf9\x04\x00\x0a\x00\x00\x00"  # 100 ms per frame
    body = b"".join(frame_control + blocks[number % 2] for number in range(frames))
    return header.replace(b"GIF87a", b"GIF89a", 1) + comment + body + b"\x3b"
