"""
Would the RUM index serve searches better than the GIN index? (docs/performance.md,
"Search"):

    python -m tests.bench.search_rum [--database-url URL] [--repeats 5]

Needs the RUM extension on the PostgreSQL server (Debian: `apt-get install
postgresql-15-rum`). Against a database seeded by tests.bench.run it times, for each
shape of tests.bench.search_plans and the pairs the mixed benchmark found slowest, the
first page newest first and the bounded count as the list's queries read them, with the
GIN index alone; then it builds a RUM index that stores each incident's `created_at`
with its words, ordered by it, and times the same page read through it
(`ORDER BY created_at <=| …`), its count, and best match (`ORDER BY search_vector <=> query`).
The RUM index and the extension are dropped at the end. Values are sent inline, as
Django sends them, so that PostgreSQL plans each query for its words.
"""
from __future__ import annotations

import argparse
import os
import statistics
import time

import psycopg
from psycopg import sql

from incidents.search import tsquery_for
from tests.bench.search_plans import SHAPES

# Pairs that never meet in the seeded text, which the mixed benchmark's searches drew.
NEVER_TOGETHER = ("london remote", "shared vpn")
MATCHES = "search_vector @@ to_tsquery('english', {query})"
QUERIES = {
    "newest": "SELECT id FROM incidents_incident WHERE " + MATCHES + " ORDER BY {order} LIMIT 26",
    "count": "SELECT count(*) FROM (SELECT 1 FROM incidents_incident WHERE " + MATCHES + " LIMIT 101) matches",
    "best match": "SELECT id FROM incidents_incident WHERE " + MATCHES + " ORDER BY {order} LIMIT 26",
}
GIN_ORDERS = {"newest": "created_at DESC, id DESC", "count": "", "best match": ""}
RUM_ORDERS = {"newest": "created_at <=| 'infinity'::timestamptz", "count": "",
              "best match": "search_vector <=> to_tsquery('english', {query})"}
RUM_INDEX = ("CREATE INDEX bench_search_rum_idx ON incidents_incident USING rum "
             "(search_vector rum_tsvector_addon_ops, created_at) "
             "WITH (attach = 'created_at', to = 'search_vector', order_by_attach = 't')")


def timed(connection: psycopg.Connection, statement: sql.Composed, repeats: int) -> tuple[float, str]:
    """The median milliseconds of `statement` and the first scan of its plan."""
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        connection.execute(statement).fetchall()
        times.append((time.perf_counter() - started) * 1000)
    plan = [row[0].strip() for row in connection.execute(sql.SQL("EXPLAIN ") + statement).fetchall()]
    scan = next((line for line in plan if "Scan" in line), plan[0])
    return statistics.median(times), scan.removeprefix("->  ").split("  (")[0]


def measure(connection: psycopg.Connection, texts: list[str], orders: dict[str, str], kinds: list[str],
            repeats: int) -> dict[tuple[str, str], tuple[float, str]]:
    results = {}
    for text in texts:
        query = sql.Literal(tsquery_for(text))
        for kind in kinds:
            order = sql.SQL(orders[kind]).format(query=query)
            statement = sql.SQL(QUERIES[kind]).format(query=query, order=order)
            results[text, kind] = timed(connection, statement, repeats)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", default=os.environ.get(
        "BENCH_DATABASE_URL", "postgres://127.0.0.1:5432/incident_tracker_bench_1000000"))
    parser.add_argument("--repeats", type=int, default=5)
    options = parser.parse_args()
    texts = [*dict.fromkeys(text for text, filters in SHAPES.values() if not filters), *NEVER_TOGETHER]
    with psycopg.connect(options.database_url, autocommit=True) as connection:
        gin = measure(connection, texts, GIN_ORDERS, ["newest", "count"], options.repeats)
        connection.execute("CREATE EXTENSION IF NOT EXISTS rum")
        started = time.perf_counter()
        connection.execute(RUM_INDEX)
        built = time.perf_counter() - started
        try:
            size = connection.execute("SELECT pg_size_pretty(pg_relation_size('bench_search_rum_idx')),"
                                      " pg_size_pretty(pg_relation_size('incident_search_idx'))").fetchone()
            rum = measure(connection, texts, RUM_ORDERS, ["newest", "count", "best match"], options.repeats)
        finally:
            connection.execute("DROP INDEX bench_search_rum_idx")
            connection.execute("DROP EXTENSION rum")
    print(f"RUM index built in {built:.1f} s, {size[0] if size else '?'} (the GIN index: {size[1] if size else '?'})")
    print(f"{'words':16} {'GIN newest':>11} {'GIN count':>10} {'RUM newest':>11} {'RUM count':>10} {'RUM best':>9}"
          "   (median ms; the plans' scans below)")
    for text in texts:
        print(f"{text:16} {gin[text, 'newest'][0]:11.1f} {gin[text, 'count'][0]:10.1f} {rum[text, 'newest'][0]:11.1f}"
              f" {rum[text, 'count'][0]:10.1f} {rum[text, 'best match'][0]:9.1f}")
        print(f"{'':16} GIN: {gin[text, 'newest'][1]} / {gin[text, 'count'][1]};"
              f" RUM: {rum[text, 'newest'][1]} / {rum[text, 'count'][1]}")


if __name__ == "__main__":
    main()
