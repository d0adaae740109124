"""
Synthetic incidents in bulk, for load tests and for trying the product at scale
(`manage.py seed --incidents N --comments M`).

The data looks like a real tracker's two years: recent incidents are mostly still open
or in progress and old ones closed; severities, categories, reporters and assignees are
skewed the way real ones are (a few categories and people account for most incidents);
every lifecycle timestamp fits the status and the database's check constraints.

Rows are generated and written one batch at a time, each batch in its own transaction
with one audit row recording the import, so memory stays flat whatever N is. On
PostgreSQL a batch goes in with COPY (the search triggers index it on the way in);
elsewhere with bulk_create.
"""
from __future__ import annotations

import bisect
import itertools
import random
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from django.contrib.auth.hashers import make_password
from django.db import connection, connections, transaction
from django.utils import timezone
from psycopg import sql

from accounts.models import User
from audit.models import Action
from audit.services import audit_record

from . import caching
from .models import Category, Comment, Incident, Severity
from .workflow import Status

HISTORY = timedelta(days=730)
RESPONDER_COUNT = 25
# One reporter per this many incidents, within bounds: enough people for a realistic skew.
INCIDENTS_PER_REPORTER = 400
REPORTERS_MIN, REPORTERS_MAX = 20, 2500

SEVERITY_WEIGHTS = {Severity.SEV1: 3, Severity.SEV2: 12, Severity.SEV3: 50, Severity.SEV4: 35}
# Relative frequency of categories in the order they are listed (by name), repeating.
CATEGORY_WEIGHTS = (30, 22, 18, 13, 10, 7)
# Mean time to acknowledge and to resolve, by severity: the worse, the faster.
ACKNOWLEDGE_MINUTES: dict[int, int] = {Severity.SEV1: 8, Severity.SEV2: 30, Severity.SEV3: 180, Severity.SEV4: 720}
RESOLVE_HOURS: dict[int, int] = {Severity.SEV1: 3, Severity.SEV2: 12, Severity.SEV3: 48, Severity.SEV4: 120}
CLOSE_HOURS = 36
# Where an incident ends up by its age: (age limit, weights for open, in progress, resolved, closed).
STATUS_BY_AGE = (
    (timedelta(days=2), (50, 35, 15, 0)),
    (timedelta(days=14), (8, 17, 35, 40)),
    (HISTORY, (1, 1, 6, 92)),
)
LIFECYCLE = (Status.OPEN, Status.IN_PROGRESS, Status.RESOLVED, Status.CLOSED)

SYSTEMS = (
    "VPN", "Payroll", "E-mail", "Wi-Fi", "Printer", "Laptop", "Build server", "Website", "Database", "Backup job",
    "Single sign-on", "Shared drive", "Video conferencing", "CRM", "Phone system", "Door badge reader",
    "Monitoring", "DNS", "Firewall", "Expense app", "HR portal", "Warehouse scanner", "Intranet", "Load balancer",
    "Air conditioning", "UPS", "Mobile app", "Ticket printer", "Git server", "Data warehouse",
)
SYMPTOMS = (
    "is down", "is very slow", "drops every few minutes", "returns 502 errors", "rejects valid passwords",
    "shows a certificate warning", "is out of disk space", "times out", "fails after the update",
    "sends duplicate notifications", "cannot be reached from the office", "crashes on start", "loses data",
    "has a suspicious login", "is stuck in a reboot loop", "reports the wrong totals", "is not syncing",
    "is running hot", "logs users out", "prints blank pages",
)
PLACES = (
    "", "", "", " on floor 2", " on floor 3", " in the London office", " for the finance team",
    " for remote staff", " in meeting rooms", " since this morning", " after the weekend",
)
OPENINGS = (
    "Users started reporting this around {hour}:00.", "Noticed during the morning stand-up.",
    "Several people in {team} are affected.", "Monitoring raised an alert at {hour}:{minute:02d}.",
    "This began right after last night's maintenance window.", "A customer called about it twice today.",
)
DETAILS = (
    "Restarting the client helps for a few minutes only.", "The error message says the connection was reset.",
    "It works from home but not from the office network.", "Logs show repeated timeouts against the backend.",
    "Only Windows machines seem to be affected.", "The dashboard shows the queue growing steadily.",
    "Nothing in the change calendar explains it.", "About {people} people cannot work until this is fixed.",
)
COMMENTS = (
    "Looking into it now.", "Can you send a screenshot of the error?", "Restarted the service; please try again.",
    "Escalated to the network team.", "Still happening for me after the restart.", "Rolled back the last change.",
    "Workaround: use the web version until we deploy the fix.", "Confirmed fixed on my side, thanks!",
    "Vendor ticket opened, waiting for their reply.", "Root cause: an expired certificate on the proxy.",
    "Disk cleaned up and alerting threshold lowered.", "Affects the whole floor, raising severity.",
)
TEAMS = ("finance", "sales", "support", "engineering", "the warehouse", "HR", "marketing", "legal")


@dataclass(frozen=True)
class SeedPlan:
    incidents: int
    comments: int
    batch_size: int = 10_000
    random_seed: int = 2026


@dataclass
class Batch:
    incidents: list[dict[str, Any]]
    comments: list[dict[str, Any]]

    def number(self, ids: Sequence[int]) -> tuple[int, int]:
        """Give the incidents their ids and point the comments at them; returns the first and last id."""
        for row, incident_id in zip(self.incidents, ids, strict=True):
            row["id"] = incident_id
        for comment in self.comments:
            comment["incident_id"] = ids[comment["incident_position"]]
        return ids[0], ids[-1]


class WeightedChoice:
    """Fast repeated weighted picks from a fixed population."""

    def __init__(self, population: Sequence[Any], weights: Sequence[float]) -> None:
        self.population = list(population)
        self.cumulative = list(itertools.accumulate(weights))

    def pick(self, chooser: random.Random) -> Any:
        return self.population[bisect.bisect(self.cumulative, chooser.random() * self.cumulative[-1])]


def seed_people(incident_count: int) -> tuple[list[int], list[int]]:
    """The ids of the seed's reporters and responders, creating the missing ones (idempotent)."""
    reporter_count = min(REPORTERS_MAX, max(REPORTERS_MIN, incident_count // INCIDENTS_PER_REPORTER))
    wanted = [(f"seed-reporter-{n:04d}", False) for n in range(reporter_count)]
    wanted += [(f"seed-responder-{n:02d}", True) for n in range(RESPONDER_COUNT)]
    existing = set(User.objects.filter(username__in=[name for name, _ in wanted]).values_list("username", flat=True))
    unusable = make_password(None)
    User.objects.bulk_create(
        [User(username=name, email=f"{name}@example.com", is_staff=is_staff, password=unusable)
         for name, is_staff in wanted if name not in existing],
        batch_size=1000,
    )
    ids = dict(User.objects.filter(username__in=[name for name, _ in wanted]).values_list("username", "id"))
    return ([ids[name] for name, is_staff in wanted if not is_staff], [ids[name] for name, is_staff in wanted if is_staff])


class IncidentGenerator:
    """Plausible incident and comment rows; deterministic for a given random seed."""

    def __init__(self, *, reporters: list[int], responders: list[int], categories: list[int], now: datetime,
                 random_seed: int) -> None:
        self.now = now
        self.chooser = random.Random(random_seed)
        # Zipf-like: the n-th person is involved about 1/n^0.9 as often as the first.
        self.reporters = WeightedChoice(reporters, [1 / (rank + 1) ** 0.9 for rank in range(len(reporters))])
        self.responders = WeightedChoice(responders, [1 / (rank + 1) ** 0.6 for rank in range(len(responders))])
        self.categories = WeightedChoice(
            [*categories, None], [*(CATEGORY_WEIGHTS[n % len(CATEGORY_WEIGHTS)] for n in range(len(categories))), 4]
        )
        self.severities = WeightedChoice(list(SEVERITY_WEIGHTS), list(SEVERITY_WEIGHTS.values()))
        self.statuses = [(limit, WeightedChoice(LIFECYCLE, weights)) for limit, weights in STATUS_BY_AGE]

    def text(self, templates: Sequence[str]) -> str:
        pick = self.chooser
        return pick.choice(templates).format(
            hour=pick.randint(6, 22), minute=pick.randint(0, 59), team=pick.choice(TEAMS), people=pick.randint(2, 300)
        )

    def title(self) -> str:
        pick = self.chooser
        return f"{pick.choice(SYSTEMS)} {pick.choice(SYMPTOMS)}{pick.choice(PLACES)}"

    def description(self) -> str:
        return f"<p>{self.text(OPENINGS)} {self.text(DETAILS)}</p><p>{self.text(DETAILS)}</p>"

    def lifecycle(self, created_at: datetime, severity: int) -> dict[str, Any]:
        """The status an incident of this age reached, with timestamps that fit it and `now`."""
        pick = self.chooser
        age = self.now - created_at
        target = next(choice for limit, choice in self.statuses if age <= limit).pick(pick)
        acknowledged = created_at + timedelta(minutes=pick.expovariate(1 / ACKNOWLEDGE_MINUTES[severity]))
        resolved = acknowledged + timedelta(hours=pick.expovariate(1 / RESOLVE_HOURS[severity]))
        closed = resolved + timedelta(hours=pick.expovariate(1 / CLOSE_HOURS))
        stamps = {"acknowledged_at": acknowledged, "resolved_at": resolved, "closed_at": closed}
        # An incident cannot have got further than time allowed.
        reached = LIFECYCLE.index(target)
        for position, moment in enumerate(stamps.values(), start=1):
            if moment > self.now:
                reached = min(reached, position - 1)
        kept = list(stamps)[:reached]
        row: dict[str, Any] = {name: stamps[name] if name in kept else None for name in stamps}
        row["status"] = LIFECYCLE[reached]
        row["updated_at"] = max([created_at, *(stamps[name] for name in kept)])
        return row

    def incident(self, age: float) -> dict[str, Any]:
        """An incident reported `age` of HISTORY ago (0 now, 1 the oldest), before any skew towards the present."""
        pick = self.chooser
        created_at = self.now - HISTORY * age ** 1.4
        severity = self.severities.pick(pick)
        row = {
            "title": self.title(), "description": self.description(),
            "category_id": self.categories.pick(pick), "severity": severity, "reporter_id": self.reporters.pick(pick),
            "created_at": created_at, **self.lifecycle(created_at, severity),
        }
        assigned = row["status"] != Status.OPEN or pick.random() < 0.3
        row["assignee_id"] = self.responders.pick(pick) if assigned else None
        row["version"] = 1 + assigned + LIFECYCLE.index(row["status"])
        return row

    def comment(self, incident: dict[str, Any], position: int) -> dict[str, Any]:
        """A comment on the batch's incident at `position` (its id is known only once written)."""
        pick = self.chooser
        by_responder = incident["assignee_id"] is not None and pick.random() < 0.7
        start, end = incident["created_at"], incident["closed_at"] or self.now
        return {
            "incident_position": position,
            "author_id": incident["assignee_id"] if by_responder else incident["reporter_id"],
            "body": f"<p>{self.text(COMMENTS)}</p>",
            "internal": by_responder and pick.random() < 0.3,
            "created_at": start + (end - start) * pick.random(),
        }

    def batch(self, size: int, comment_count: int, *, first: int, total: int) -> Batch:
        """
        Incidents `first` to `first + size` of `total`, in the order they were reported:
        each draws its age from its own slice of the history, oldest first, so ids follow
        time as in a tracker that numbers reports as they arrive. The table is then laid
        out in time, as a real one is, and a walk down the newest incidents reads a page
        of the table per dozen incidents, not one per incident.
        """
        pick = self.chooser
        incidents = [self.incident(1 - (first + number + pick.random()) / total) for number in range(size)]
        positions = (self.chooser.randrange(size) for _ in range(comment_count))
        return Batch(incidents=incidents, comments=[self.comment(incidents[position], position) for position in positions])


INCIDENT_COLUMNS = (
    "id", "title", "description", "category_id", "severity", "status", "reporter_id", "assignee_id", "created_at",
    "updated_at", "acknowledged_at", "resolved_at", "closed_at", "version",
)
COMMENT_COLUMNS = ("incident_id", "author_id", "body", "internal", "created_at")


def _copy(table: str, columns: Sequence[str], rows: list[dict[str, Any]]) -> None:
    statement = sql.SQL("COPY {} ({}) FROM STDIN").format(
        sql.Identifier(table), sql.SQL(", ").join(sql.Identifier(column) for column in columns)
    )
    with connection.cursor() as cursor, cursor.cursor.copy(statement) as copy:
        for row in rows:
            copy.write_row([row[column] for column in columns])


def _reserve_incident_ids(count: int) -> list[int]:
    """Take `count` ids from the incident sequence, so comments can point at incidents before they are written."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)",
            [Incident._meta.db_table, count],
        )
        return [incident_id for (incident_id,) in cursor.fetchall()]


def _write_with_copy(batch: Batch, incident_columns: Sequence[str] = INCIDENT_COLUMNS) -> tuple[int, int]:
    span = batch.number(_reserve_incident_ids(len(batch.incidents)))
    # Comments first: the incident trigger then indexes each incident with its comments in
    # one pass (the foreign key is checked at commit).
    _copy(Comment._meta.db_table, COMMENT_COLUMNS, batch.comments)
    _copy(Incident._meta.db_table, incident_columns, batch.incidents)
    return span


def _search_vectors(titles: list[str], descriptions: list[str], comments: list[str | None]) -> list[str]:
    """Search documents computed by PostgreSQL, in this thread's own connection, with the function the trigger uses."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT incidents_search_text_document(title, description, comments)::text "
            "FROM unnest(%s::text[], %s::text[], %s::text[]) WITH ORDINALITY AS row(title, description, comments, n) "
            "ORDER BY n",
            [titles, descriptions, comments],
        )
        return [vector for (vector,) in cursor.fetchall()]


def _with_search_vectors(batch: Batch, helper: ThreadPoolExecutor) -> Batch:
    """
    The batch with each incident's search document worked out from the texts: the same
    vector the trigger would store, computed while the previous batch is written, half in
    this thread's connection and half in `helper`'s, so that both cores share the
    stemming that costs most of a load. Comments are joined in the order they are
    written, which is the order of their ids.
    """
    public_comments: dict[int, list[str]] = defaultdict(list)
    for comment in batch.comments:
        if not comment["internal"]:
            public_comments[comment["incident_position"]].append(comment["body"])
    titles = [row["title"] for row in batch.incidents]
    descriptions = [row["description"] for row in batch.incidents]
    comments = [" ".join(public_comments[position]) if position in public_comments else None
                for position in range(len(batch.incidents))]
    half = len(titles) // 2
    second_half = helper.submit(_search_vectors, titles[half:], descriptions[half:], comments[half:])
    vectors = _search_vectors(titles[:half], descriptions[:half], comments[:half]) + second_half.result()
    for row, vector in zip(batch.incidents, vectors, strict=True):
        row["search_vector"] = vector
    return batch


@contextmanager
def _search_vectors_written_with_the_rows() -> Iterator[None]:
    """For a first load: the rows arrive with their search vectors, so the trigger that computes them is off meanwhile."""
    trigger = sql.SQL("ALTER TABLE {} {} TRIGGER incidents_incident_search")
    with connection.cursor() as cursor:
        cursor.execute(trigger.format(sql.Identifier(Incident._meta.db_table), sql.SQL("DISABLE")))
    yield
    with connection.cursor() as cursor:
        cursor.execute(trigger.format(sql.Identifier(Incident._meta.db_table), sql.SQL("ENABLE")))


@contextmanager
def _indexes_built_afterwards() -> Iterator[None]:
    """
    For a first load into empty tables: drop the incident table's secondary indexes and
    both tables' foreign keys, and recreate them from their own catalogue definitions
    afterwards. Building an index once over sorted data, and checking a foreign key
    with one join, is many times faster than maintaining them row by row. Used inside
    the load's single transaction, so a failure leaves the schema untouched; the
    comments' own index stays, because the search trigger looks comments up by it.
    """
    tables = [Incident._meta.db_table, Comment._meta.db_table]
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname, pg_get_indexdef(i.indexrelid) FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
            "WHERE i.indrelid = %s::regclass AND NOT EXISTS "
            "(SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid)",
            [tables[0]],
        )
        indexes = cursor.fetchall()
        cursor.execute(
            "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) FROM pg_constraint "
            "WHERE contype = 'f' AND conrelid = ANY(%s::regclass[])",
            [tables],
        )
        foreign_keys = cursor.fetchall()
        for table, name, _definition in foreign_keys:
            cursor.execute(sql.SQL("ALTER TABLE {} DROP CONSTRAINT {}").format(sql.Identifier(table), sql.Identifier(name)))
        for name, _definition in indexes:
            cursor.execute(sql.SQL("DROP INDEX {}").format(sql.Identifier(name)))
    yield
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL maintenance_work_mem = '256MB'")
        for _name, definition in indexes:
            cursor.execute(definition)
        for table, name, definition in foreign_keys:
            cursor.execute(sql.SQL("ALTER TABLE {} ADD CONSTRAINT {} ").format(sql.Identifier(table), sql.Identifier(name))
                           + sql.SQL(definition))


@contextmanager
def _closing_thread_connections(*pools: ThreadPoolExecutor) -> Iterator[None]:
    """The pools' threads open their own database connections to compute search vectors; they are closed here."""
    try:
        yield
    finally:
        for pool in pools:
            pool.submit(connections.close_all).result()


def _write_with_orm(batch: Batch) -> tuple[int, int]:
    incidents = Incident.objects.bulk_create([Incident(**row) for row in batch.incidents])
    span = batch.number([incident.pk for incident in incidents])
    Comment.objects.bulk_create([Comment(**{name: row[name] for name in COMMENT_COLUMNS}) for row in batch.comments])
    return span


def seed_incidents(plan: SeedPlan, *, progress: Callable[[int, int], None],
                   announce: Callable[[str], None] = lambda message: None) -> None:
    """
    Write `plan`'s incidents and comments batch by batch, each batch with its audit row,
    calling progress(done, total) after each. Later loads commit batch by batch, so an
    interrupted run keeps what it wrote. The first load into empty tables on PostgreSQL
    is one transaction that builds the indexes at the end (see _indexes_built_afterwards):
    all or nothing. Refreshes the planner's statistics at the end, since a bulk load
    changes the tables faster than autovacuum notices.
    """
    reporters, responders = seed_people(plan.incidents)
    categories = list(Category.objects.filter(is_active=True).values_list("pk", flat=True))
    generator = IncidentGenerator(reporters=reporters, responders=responders, categories=categories,
                                  now=timezone.now(), random_seed=plan.random_seed)
    postgresql = connection.vendor == "postgresql"
    first_load = postgresql and not Incident.objects.exists() and not Comment.objects.exists()
    write: Callable[[Batch], tuple[int, int]] = _write_with_copy if postgresql else _write_with_orm
    if first_load:
        write = partial(_write_with_copy, incident_columns=(*INCIDENT_COLUMNS, "search_vector"))

    def prepare(first: int, size: int, comment_count: int) -> Batch:
        batch = generator.batch(size, comment_count, first=first, total=plan.incidents)
        return _with_search_vectors(batch, helper) if first_load else batch

    # Sizes of the batches, with the comments spread evenly over them.
    starts = [*range(0, plan.incidents, plan.batch_size), plan.incidents]
    plans = [
        (start, end - start, plan.comments * end // plan.incidents - plan.comments * start // plan.incidents)
        for start, end in zip(starts, starts[1:])
    ]
    done = 0
    # The next batch is prepared in a second thread while this one is written: the
    # generator's Python work (and on a first load, the search vectors) overlaps the
    # writing, and at most two batches are in memory.
    with (ThreadPoolExecutor(max_workers=1) as pool, ThreadPoolExecutor(max_workers=1) as helper,
          transaction.atomic() if first_load else nullcontext()):
        with (_indexes_built_afterwards() if first_load else nullcontext(),
              _search_vectors_written_with_the_rows() if first_load else nullcontext(),
              _closing_thread_connections(pool, helper)):
            upcoming = pool.submit(prepare, *plans[0])
            for number, (_, size, comment_count) in enumerate(plans):
                batch = upcoming.result()
                if number + 1 < len(plans):
                    upcoming = pool.submit(prepare, *plans[number + 1])
                with transaction.atomic():
                    first, last = write(batch)
                    audit_record(
                        Action.INCIDENTS_IMPORTED, actor=None, target_label=f"Incidents #{first}–#{last} (generated)",
                        changes={"incidents": [None, size], "comments": [None, comment_count]},
                    )
                done += size
                progress(done, plan.incidents)
            if first_load:
                announce("Building indexes and checking foreign keys…")
    caching.incidents_changed()
    if postgresql:
        announce("Updating the planner's statistics…")
        with connection.cursor() as cursor:
            # The people too: with the thousands of reporters unknown to the planner, it joins
            # each page's assignees by reading the whole user table once per row.
            for model in (Incident, Comment, Category, User):
                cursor.execute(sql.SQL("ANALYZE {}").format(sql.Identifier(model._meta.db_table)))
