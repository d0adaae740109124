"""
The memory a large CSV export costs the process that serves it (docs/performance.md):

    python -m tests.bench.export_memory [--database-url URL] [--query "severity=2"]

Against a database seeded by tests.bench.run, it serves the export view as a staff user
for the list's filters in `--query` (severity 2 holds about 120,000 of a million
incidents) and reads the streamed answer to the end, as a worker hands it to its client.
It prints the rows and bytes sent, the time taken, the resident memory before, and the
peak resident memory while streaming (the kernel's high-water mark, reset first), so the
difference is what the export held at its largest.
"""
from __future__ import annotations

import argparse
import os
import time
from pathlib import Path


def resident_mb(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no {field} in /proc/self/status")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", default=os.environ.get(
        "BENCH_DATABASE_URL", "postgres://127.0.0.1:5432/incident_tracker_bench_1000000"))
    parser.add_argument("--query", default="severity=2", help="the list's filters, as in its address")
    options = parser.parse_args()
    os.environ.update(DATABASE_URL=options.database_url, DJANGO_SETTINGS_MODULE="incident_tracker.settings",
                      DEBUG="true")
    import django

    django.setup()
    from django.http import StreamingHttpResponse
    from django.test import RequestFactory

    from accounts.models import User
    from incidents.views import IncidentExportView

    staff = User.objects.filter(is_staff=True, is_active=True).order_by("pk").first()
    assert staff is not None, "the seeded database has responders"
    request = RequestFactory().get(f"/incidents/export.csv?{options.query}")
    request.user = staff
    before = resident_mb("VmRSS")
    # Writing 5 resets the high-water mark of resident memory (VmHWM) to what is resident now.
    Path("/proc/self/clear_refs").write_text("5")
    started = time.monotonic()
    response = IncidentExportView.as_view()(request)
    assert isinstance(response, StreamingHttpResponse)
    rows = sent = 0
    for chunk in response:
        rows += chunk.count(b"\n")
        sent += len(chunk)
    seconds = time.monotonic() - started
    peak = resident_mb("VmHWM")
    print(f"export ?{options.query}: {rows - 1:,} rows, {sent / 1e6:.1f} MB in {seconds:.1f} s")
    print(f"resident memory: {before:.0f} MB before, {peak:.0f} MB at the peak while streaming "
          f"(+{peak - before:.1f} MB)")


if __name__ == "__main__":
    main()
