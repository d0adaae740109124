"""
Runs one upload through incidents.attachments.inspect in a fresh process and prints,
as JSON, how it ended and the peak memory of this process and of its children: a test
process has seen too much to measure either. Usage: python -m tests.security.image_probe FILE NAME
"""
from __future__ import annotations

import json
import resource
import sys
from pathlib import Path

import django


def main(path: str, name: str) -> None:
    django.setup()
    from django.core.exceptions import ValidationError
    from django.core.files.uploadedfile import TemporaryUploadedFile

    from incidents import attachments

    content = Path(path).read_bytes()
    upload = TemporaryUploadedFile(name, "application/octet-stream", len(content), None)
    upload.write(content)
    upload.flush()
    del content
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    try:
        kept = attachments.inspect(upload)
        outcome: dict[str, object] = {"refused": None, "size": kept.size}
    except ValidationError as error:
        outcome = {"refused": error.messages[0], "size": None}
    self_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children_peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    print(json.dumps({**outcome, "web_process_growth_mb": (self_peak - before) / 1024,
                      "worker_peak_mb": children_peak / 1024}))


if __name__ == "__main__":
    main(*sys.argv[1:3])
