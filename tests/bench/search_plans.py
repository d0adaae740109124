"""
How long each shape of search takes at scale, one at a time, with PostgreSQL's plans
(docs/performance.md, "Search"):

    python -m tests.bench.search_plans [--database-url URL] [--repeats 40] [--explain]

Against a database seeded by tests.bench.run (1,000,000 incidents by default), it reads
the first page of the incident list for each shape (a word that is not there, a rare
word, a common word, two words often and never together, a word with filters), in
best-match and newest order, exactly as the list does (search_page, and its bounded
count when there is a next page), REPEATS times in a shuffled order. It prints each
shape's median and p99 wall time and its slowest statement's execution time by
EXPLAIN ANALYZE; `--explain` prints that plan too.
"""
from __future__ import annotations

import argparse
import os
import random
import statistics
import time
from typing import Any

SHAPES: dict[str, tuple[str, dict[str, Any]]] = {
    "absent word": ("kubernetes", {}),
    "rare word": ("183", {}),
    "absent prefix": ("zebr", {}),
    "common word": ("vpn", {}),
    "very common word": ("network", {}),
    "two words together": ("phone system", {}),
    "two words never together": ("syncing valid", {}),
    "rare and common words": ("183 error", {}),
    "word, status open": ("vpn", {"status": "open"}),
    "word, severity 1 and category": ("printer", {"severity": 1, "category": "first"}),
    "rare word, unassigned": ("183", {"assignee": "none"}),
}
ORDERS = ("relevance", "newest")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", default=os.environ.get(
        "BENCH_DATABASE_URL", "postgres://127.0.0.1:5432/incident_tracker_bench_1000000"))
    parser.add_argument("--repeats", type=int, default=40)
    parser.add_argument("--explain", action="store_true", help="print the slowest statement's plan of each shape")
    options = parser.parse_args()
    os.environ.update(DATABASE_URL=options.database_url, DJANGO_SETTINGS_MODULE="incident_tracker.settings",
                      DEBUG="true")
    import django

    django.setup()
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from incidents.models import Category, Incident
    from incidents.pagination import bounded_count
    from incidents.search import search_page

    first_category = Category.objects.order_by("pk").values_list("pk", flat=True).first()

    def read(text: str, filters: dict[str, Any], order: str) -> None:
        chosen = {**filters, **({"category": first_category} if filters.get("category") else {})}
        filtered = Incident.objects.filtered(chosen, user=None)  # type: ignore[arg-type]
        matching = filtered.search(text)
        page = search_page(matching.table_values("rank"), order=order, size=25)
        if page.next_cursor is not None:
            # As the list: a first page that holds every match is counted from its rows.
            bounded_count(matching)

    runs = [(shape, order) for shape in SHAPES for order in ORDERS] * options.repeats
    random.Random(1).shuffle(runs)
    times: dict[tuple[str, str], list[float]] = {}
    for shape, order in runs:
        text, filters = SHAPES[shape]
        started = time.perf_counter()
        read(text, filters, order)
        times.setdefault((shape, order), []).append((time.perf_counter() - started) * 1000)
    print(f"{'shape':32} {'order':10} {'p50 ms':>8} {'p99 ms':>8}  slowest statement (EXPLAIN ANALYZE)")
    for (shape, order), measured in sorted(times.items(), key=lambda item: list(SHAPES).index(item[0][0])):
        text, filters = SHAPES[shape]
        with CaptureQueriesContext(connection) as captured:
            read(text, filters, order)
        plans = []
        with connection.cursor() as cursor:
            for query in captured.captured_queries:
                cursor.execute(f"EXPLAIN (ANALYZE, BUFFERS) {query['sql']}")
                lines = [row[0] for row in cursor.fetchall()]
                plans.append((float(lines[-1].split()[2]), query["sql"], lines))
        slowest = max(plans)
        p99 = statistics.quantiles(measured, n=100)[98] if len(measured) > 1 else measured[0]
        print(f"{shape:32} {order:10} {statistics.median(measured):8.1f} {p99:8.1f}  {slowest[0]:.1f} ms")
        if options.explain:
            print(f"    {slowest[1]}\n" + "\n".join(f"    {line}" for line in slowest[2]))


if __name__ == "__main__":
    main()
