"""
Nothing is stale: two instances of the application, each its own gunicorn process with
the production settings, share one PostgreSQL database, once with the database cache
and once with Redis, as a deployment behind a load balancer does.

Each test reads every page that shows some data through instance B, so that whatever B
keeps is warm; changes the data through instance A (or a management command run beside
them); and at once reads the pages through B again. Each page must show the change, to
a responder and to the incident's reporter, and the reporter must still see nothing
they may not see: no internal note, no other reporter's incident. A failure names every
page that showed something stale, and to whom.
"""
from __future__ import annotations

import csv
import datetime
import io
import os
import re
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import pytest
import time_machine
from django.apps import apps
from django.contrib.auth.hashers import Argon2PasswordHasher
from django.contrib.contenttypes.models import ContentType
from django.core.cache import caches
from django.core.cache.backends.redis import RedisCache
from django.db import connection, transaction
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.models import User
from audit.models import AuditLog
from incidents import dashboard
from incidents.models import Category, Incident
from incidents.services import incident_transition, incident_update
from incidents.workflow import Status
from tests.conftest import TEST_REDIS_URL
from tests.factories import make_category, make_comment, make_incident, make_totp_device, make_user, totp_code

from .pages import read_page
from .servers import BASE_DIR, Answer, Browser, database_url, gunicorn_instances, production_env

pytestmark = [pytest.mark.postgresql, pytest.mark.django_db(transaction=True)]

# Flushed by these tests: a Redis database of its own.
PASSWORD = "two-instances-share-one-database"

CATEGORY = "Facilities"
TITLE = "Printer kestrel jammed"
# Another reporter's incident, in the same category and found by the same word.
FOREIGN_TITLE = "Badger alarm by the kestrel cage"
INTERNAL_NOTE = "Vendor contract quagmire, keep it between us"
READERS = ("responder", "reporter")
FOREIGN_PAGE = "another reporter's incident"
INCIDENT_PATH = re.compile(r"^/incidents/(\d+)/$")
COUNTS_CAPTION = "Number of incidents by severity and status"


# --- Two instances --------------------------------------------------------------------


@dataclass
class Instances:
    cache: str
    a: str
    b: str
    # Their environment, for management commands run beside them.
    env: dict[str, str]
    # PASSWORD hashed as the instances check it (this process's hasher is a fast test one).
    password_hash: str
    # The content types' ids as the first test found them (see keep_content_type_ids).
    content_type_ids: dict[tuple[str, str], int] = field(default_factory=dict)

    def clear_cache(self) -> None:
        """What the instances share is emptied, as on a new deployment: each test starts from its own data."""
        if self.env["REDIS_URL"]:
            RedisCache(self.env["REDIS_URL"], {}).clear()
        else:
            # Without REDIS_URL the instances' cache is this process's own: same settings, same database.
            caches["default"].clear()


@pytest.fixture(scope="module", params=["database cache", pytest.param("Redis", marks=pytest.mark.redis)])
def instances(request, collected_static, tmp_path_factory, django_db_setup) -> Iterator[Instances]:
    """Instances A and B, started once per cache configuration for the whole module."""
    logs = tmp_path_factory.mktemp("two-instances")
    env = {**production_env(collected_static, logs, database_url()), "REDIS_URL": ""}
    if request.param == "Redis":
        env["REDIS_URL"] = TEST_REDIS_URL
    hasher = Argon2PasswordHasher()
    with gunicorn_instances(env, log_paths=[logs / "a.log", logs / "b.log"]) as (a, b):
        yield Instances(request.param, a, b, env, hasher.encode(PASSWORD, hasher.salt()))


# --- The data and the people ------------------------------------------------------------


@dataclass
class World:
    responder: User
    responder_device: TOTPDevice
    reporter: User
    admin: User
    admin_device: TOTPDevice
    category: Category
    # Reported by `reporter`, assigned to `responder`, with an internal note.
    incident: Incident
    foreign: Incident

    def pages(self, *searches: str) -> dict[str, str]:
        """Every page that shows the incident, and a search for each of `searches` besides its title's word."""
        pages = {
            "list": f"/incidents/?category={self.category.pk}",
            "search for 'kestrel'": "/incidents/?q=kestrel",
            "detail": f"/incidents/{self.incident.pk}/",
            "dashboard": "/",
            "CSV": f"/incidents/export.csv?category={self.category.pk}",
        }
        pages.update({f"search for {word!r}": f"/incidents/?q={word}" for word in searches})
        return pages


def keep_content_type_ids(instances: Instances) -> None:
    """
    Gives the content types the ids they had in the module's first test. Between tests the
    database is flushed, which recreates them under new ids (something no deployment
    goes through), while each instance's workers keep the ids they once read, as Django
    does, and the admin writes its log with them.
    """
    current = {(label, model): pk for pk, label, model in ContentType.objects.values_list("pk", "app_label", "model")}
    if not instances.content_type_ids:
        instances.content_type_ids = current
    moved = {pk: instances.content_type_ids[key] for key, pk in current.items() if instances.content_type_ids[key] != pk}
    references = [(model, column) for model in apps.get_models() for column in model._meta.concrete_fields
                  if column.is_relation and column.related_model is ContentType]
    with transaction.atomic():
        for old, new in moved.items():
            ContentType.objects.filter(pk=old).update(id=new)
            for model, column in references:
                model._base_manager.filter(**{column.attname: old}).update(**{column.attname: new})
    ContentType.objects.clear_cache()


@pytest.fixture
def world(instances, transactional_db) -> World:
    keep_content_type_ids(instances)
    responder = make_user(username="rhea", first_name="Rhea", last_name="Quill", is_staff=True)
    reporter = make_user(username="pat", first_name="Pat", last_name="Ormond")
    other = make_user(username="olga", first_name="Olga", last_name="Brandt")
    admin = make_user(username="ada", is_staff=True, is_superuser=True)
    User.objects.update(password=instances.password_hash)
    category = make_category(name=CATEGORY)
    incident = make_incident(reporter=reporter, title=TITLE, category=category, assignee=responder,
                             description="<p>Paper is stuck in the second tray.</p>")
    make_comment(incident=incident, author=responder, body=f"<p>{INTERNAL_NOTE}</p>", internal=True)
    foreign = make_incident(reporter=other, title=FOREIGN_TITLE, category=category)
    return World(responder, make_totp_device(user=responder), reporter, admin, make_totp_device(user=admin),
                 category, incident, foreign)


def sign_in(instances: Instances, user: User, device: TOTPDevice | None = None) -> Browser:
    """The real sign-in through instance A: the password, then (with an authenticator) the code it shows now."""
    browser = Browser()
    login = read_page(browser.get(f"{instances.a}/accounts/login/").body.decode())
    answer = browser.post(f"{instances.a}/accounts/login/",
                          login.form(having="password").filled(username=user.username, password=PASSWORD))
    if device is not None:
        assert answer.status == 302 and answer.headers["Location"].endswith("/accounts/login/code/"), \
            f"{user.username}'s password step through A: {answer.status} {read_page(answer.body.decode()).text[:300]}"
        step = read_page(browser.get(f"{instances.a}/accounts/login/code/").body.decode())
        answer = browser.post(f"{instances.a}/accounts/login/code/", step.form(having="code").filled(code=totp_code(device)))
    assert answer.status == 302, f"signing in as {user.username} through A: {answer.status}"
    return browser


def sign_in_readers(instances: Instances, world: World) -> dict[str, Browser]:
    instances.clear_cache()
    # Side by side: checking a password is the dearest step of a test, and the instance has two threads.
    with ThreadPoolExecutor(2) as pool:
        responder = pool.submit(sign_in, instances, world.responder, world.responder_device)
        reporter = pool.submit(sign_in, instances, world.reporter)
        return {"responder": responder.result(), "reporter": reporter.result()}


@pytest.fixture
def readers(instances, world) -> dict[str, Browser]:
    return sign_in_readers(instances, world)


@pytest.fixture
def admin(instances, world, readers) -> Browser:
    return sign_in(instances, world.admin, world.admin_device)


# --- Writing through A ------------------------------------------------------------------


def submit(instances: Instances, browser: Browser, path: str, *, action: str | None = None, having: str | None = None,
           **values: str) -> Answer:
    """A form on `path` through instance A, filled with `values` and sent with its own CSRF token; it must redirect."""
    form = read_page(browser.get(instances.a + path).body.decode()).form(action=action, having=having)
    answer = browser.post(instances.a + (form.action or path), form.filled(**values))
    assert answer.status == 302, (
        f"the form on {path} through A answered {answer.status}: {read_page(answer.body.decode()).text[:500]}"
    )
    return answer


def next_incident_id() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_sequence_last_value(pg_get_serial_sequence('incidents_incident', 'id'))")
        return int(cursor.fetchone()[0]) + 1


def reported_lately() -> str:
    """What the responders' chart says of the last 30 days, as the database has them (the cached fragment's text)."""
    total = sum(group["reported"] for group in dashboard.recent_groups(today=timezone.localdate()))
    return f"{total} incident{'' if total == 1 else 's'} in total"


def status_counts() -> list[int]:
    """The count grid's "All" row as the database has it: incidents per status, then the total."""
    by_status = Counter(Incident.objects.values_list("status", flat=True))
    counts = [by_status[value] for value in Status.values]
    return [*counts, sum(counts)]


# --- Reading through B ------------------------------------------------------------------


@dataclass
class Reading:
    reader: str
    page: str
    url: str
    status: int
    text: str
    # Each incident the page shows, with the text of its row (a detail page: the whole page).
    rows: dict[int, str] = field(default_factory=dict)
    # On a responder's dashboard: the count grid's "All" row.
    counts: list[int] | None = None


def reading(reader: str, page: str, url: str, answer: Answer) -> Reading:
    body = answer.body.decode("utf-8-sig")
    if answer.headers.get_content_type() == "text/csv":
        lines = [line for line in csv.reader(io.StringIO(body)) if line][1:]
        return Reading(reader, page, url, answer.status, body, {int(line[0]): " | ".join(line) for line in lines})
    shown = read_page(body)
    result = Reading(reader, page, url, answer.status, shown.text)
    for table in shown.tables:
        for row in table.rows:
            for match in filter(None, (INCIDENT_PATH.match(link) for link in row.links)):
                # The dashboard may show an incident in two queues: both rows count.
                result.rows[int(match[1])] = f"{result.rows.get(int(match[1]), '')} {row.text}".strip()
    detail = INCIDENT_PATH.match(urlsplit(url).path)
    if detail and answer.status == 200:
        result.rows[int(detail[1])] = shown.text
    grid = shown.table(COUNTS_CAPTION)
    totals = next((row for row in grid.rows if row.cells[:1] == ["All"]), None) if grid else None
    if totals is not None:
        result.counts = [int(cell) for cell in totals.cells[1:]]
    return result


def read_through_b(instances: Instances, readers: Mapping[str, Browser], pages: Mapping[str, str],
                   world: World) -> dict[tuple[str, str], Reading]:
    """Every page for each reader through instance B; the reporter also tries another reporter's incident."""
    readings = {}
    for reader, browser in readers.items():
        targets = {**pages, **({FOREIGN_PAGE: f"/incidents/{world.foreign.pk}/"} if reader == "reporter" else {})}
        for page, path in targets.items():
            url = instances.b + path
            readings[reader, page] = reading(reader, page, url, browser.get(url))
    return readings


class Findings:
    """What the pages read through B showed wrong, gathered so that one failure names every stale page."""

    def __init__(self, readings: Mapping[tuple[str, str], Reading]) -> None:
        self.readings = readings
        self.problems: list[str] = []

    def _pages(self, readers: tuple[str, ...], pages: tuple[str, ...] | None) -> Iterator[Reading]:
        for (reader, page), shown in self.readings.items():
            if reader in readers and (pages is None or page in pages) and page != FOREIGN_PAGE:
                yield shown

    def _note(self, shown: Reading, problem: str) -> None:
        self.problems.append(f"{shown.page} as the {shown.reader} ({shown.url}): {problem}")

    def answers(self, status: int, *, readers: tuple[str, ...] = READERS, pages: tuple[str, ...] | None = None) -> None:
        for shown in self._pages(readers, pages):
            if shown.status != status:
                self._note(shown, f"answered {shown.status}, not {status}")

    def lists(self, incident: Incident, *texts: str, readers: tuple[str, ...] = READERS,
              pages: tuple[str, ...] | None = None) -> None:
        """Each page shows the incident, its row (or page) with every one of `texts`."""
        pk = incident.pk
        for shown in self._pages(readers, pages):
            row = shown.rows.get(pk)
            if row is None:
                self._note(shown, f"incident #{pk} is not shown")
                continue
            # A row is quoted whole; a detail page, which is the incident's, is not.
            where = f"incident #{pk}'s page" if row == shown.text else f"incident #{pk}'s row {row!r}"
            for text in texts:
                if text not in row:
                    self._note(shown, f"{where} does not show {text!r}")

    def omits(self, incident: Incident, *, readers: tuple[str, ...] = READERS,
              pages: tuple[str, ...] | None = None) -> None:
        pk = incident.pk
        for shown in self._pages(readers, pages):
            if pk in shown.rows:
                self._note(shown, f"incident #{pk} is shown")

    def says(self, text: str, *, readers: tuple[str, ...] = READERS, pages: tuple[str, ...] | None = None) -> None:
        for shown in self._pages(readers, pages):
            if text not in shown.text:
                self._note(shown, f"{text!r} is not shown")

    def never_says(self, text: str, *, readers: tuple[str, ...] = READERS, pages: tuple[str, ...] | None = None) -> None:
        for shown in self._pages(readers, pages):
            if text in shown.text:
                self._note(shown, f"{text!r} is shown")

    def counts(self, expected: list[int]) -> None:
        """The responder's dashboard counts incidents by status as the database does (then the total)."""
        for shown in self._pages(("responder",), ("dashboard",)):
            if shown.counts != expected:
                self._note(shown, f"{COUNTS_CAPTION!r} reads {shown.counts} (by status, then all), not {expected}")


@contextmanager
def shown_through_b(instances: Instances, moment: str, readings: Mapping[tuple[str, str], Reading],
                    world: World, *, not_found: tuple[str, ...] = ()) -> Iterator[Findings]:
    """
    Findings on `readings`, checked when the block ends. Whatever else the test expects,
    every page answers (404 for `not_found`), the reporter is refused another reporter's
    incident, and never sees it, nor the internal note, on any page.
    """
    findings = Findings(readings)
    findings.answers(200, pages=tuple(page for _reader, page in readings if page not in not_found))
    findings.answers(404, pages=not_found)
    for (reader, page), shown in readings.items():
        if page == FOREIGN_PAGE and shown.status != 404:
            findings.problems.append(f"{page} as the {reader} ({shown.url}): answered {shown.status}, not 404")
    findings.omits(world.foreign, readers=("reporter",))
    for secret in (FOREIGN_TITLE, INTERNAL_NOTE):
        findings.never_says(secret, readers=("reporter",))
    yield findings
    assert not findings.problems, (
        f"Through instance B ({instances.cache}), {moment}:\n  " + "\n  ".join(findings.problems)
    )


# --- The tests ----------------------------------------------------------------------------


def test_a_comment_shows_at_once_on_the_other_instance(instances, world, readers):
    """A comment shows on the incident's page and finds it by its words: search covers public comments."""
    comment = "Replaced the sprocket in the feeder."
    pages = world.pages("sprocket")
    with shown_through_b(instances, "before the comment", read_through_b(instances, readers, pages, world), world) as shown:
        shown.never_says(comment)
        shown.omits(world.incident, pages=("search for 'sprocket'",))

    submit(instances, readers["responder"], pages["detail"], action=f"/incidents/{world.incident.pk}/comments/",
           body=comment)

    after = read_through_b(instances, readers, pages, world)
    with shown_through_b(instances, "after a comment was posted through A", after, world) as shown:
        shown.lists(world.incident, comment, pages=("detail",))
        shown.lists(world.incident, TITLE, pages=("search for 'sprocket'",))


def test_an_internal_note_shows_at_once_to_responders_and_never_to_the_reporter(instances, world, readers):
    note = "Escalated to the walrus vendor."
    pages = world.pages("walrus")
    with shown_through_b(instances, "before the note", read_through_b(instances, readers, pages, world), world) as shown:
        shown.never_says(note)

    submit(instances, readers["responder"], pages["detail"], action=f"/incidents/{world.incident.pk}/comments/",
           body=note, internal="on")

    after = read_through_b(instances, readers, pages, world)
    with shown_through_b(instances, "after an internal note was posted through A", after, world) as shown:
        shown.lists(world.incident, note, "Internal note", readers=("responder",), pages=("detail",))
        shown.never_says(note, readers=("reporter",))
        shown.never_says("walrus", readers=("reporter",))


def test_a_transition_shows_at_once_on_the_other_instance(instances, world, readers):
    """The status shows in every row, filter, action and count: the responders' dashboard counts by status."""
    pages = {**world.pages(), "open incidents": "/incidents/?status=open",
             "incidents in progress": "/incidents/?status=in_progress"}
    showing_it = ("list", "search for 'kestrel'", "detail", "dashboard", "CSV")
    with shown_through_b(instances, "before the transition", read_through_b(instances, readers, pages, world),
                         world) as shown:
        shown.lists(world.incident, "Open", pages=(*showing_it, "open incidents"))
        shown.never_says("In progress", pages=("detail",))
        shown.never_says("Resolve", readers=("responder",), pages=("detail",))
        shown.counts(status_counts())

    submit(instances, readers["responder"], pages["detail"],
           action=f"/incidents/{world.incident.pk}/actions/start/")

    after = read_through_b(instances, readers, pages, world)
    with shown_through_b(instances, "after Start work through A", after, world) as shown:
        shown.lists(world.incident, "In progress", pages=(*showing_it, "incidents in progress"))
        shown.omits(world.incident, pages=("open incidents",))
        shown.says("Resolve", readers=("responder",), pages=("detail",))
        shown.never_says("Start work", readers=("responder",), pages=("detail",))
        shown.counts(status_counts())


def test_an_edit_shows_at_once_on_the_other_instance(instances, world, readers):
    new_title = "Printer osprey jammed"
    pages = world.pages("osprey")
    showing_it = ("list", "detail", "dashboard", "CSV")
    with shown_through_b(instances, "before the edit", read_through_b(instances, readers, pages, world), world) as shown:
        shown.lists(world.incident, TITLE, pages=(*showing_it, "search for 'kestrel'"))
        shown.never_says("osprey")

    submit(instances, readers["responder"], f"/incidents/{world.incident.pk}/edit/", having="title", title=new_title)

    after = read_through_b(instances, readers, pages, world)
    with shown_through_b(instances, "after the title was edited through A", after, world) as shown:
        shown.lists(world.incident, new_title, pages=(*showing_it, "search for 'osprey'"))
        shown.omits(world.incident, pages=("search for 'kestrel'",))
        shown.never_says(TITLE)


def test_a_category_rename_shows_at_once_on_the_other_instance(instances, world, readers, admin):
    new_name = "Workplace services"
    pages = world.pages()
    with shown_through_b(instances, "before the rename", read_through_b(instances, readers, pages, world), world) as shown:
        shown.lists(world.incident, CATEGORY)

    submit(instances, admin, f"/admin/incidents/category/{world.category.pk}/change/", having="name", name=new_name)

    after = read_through_b(instances, readers, pages, world)
    with shown_through_b(instances, "after the category was renamed in the admin through A", after, world) as shown:
        shown.lists(world.incident, new_name)
        shown.never_says(CATEGORY)


# The pages that name each person: the assignee in every table and in the list's filter, the
# reporter on the incident's page. The CSV names people by username, which does not change.
PAGES_NAMING = {"responder": ("list", "search for 'kestrel'", "detail", "dashboard"), "reporter": ("detail",)}


@pytest.mark.parametrize("person", PAGES_NAMING)
def test_a_user_rename_shows_at_once_on_the_other_instance(instances, world, readers, admin, person):
    user: User = getattr(world, person)
    pages_naming_them = PAGES_NAMING[person]
    old_name, new_name = user.get_full_name(), f"{user.first_name} Marlowe"
    pages = world.pages()
    html_pages = tuple(page for page in pages if page != "CSV")
    with shown_through_b(instances, "before the rename", read_through_b(instances, readers, pages, world), world) as shown:
        shown.lists(world.incident, old_name, pages=pages_naming_them)

    submit(instances, admin, f"/admin/accounts/user/{user.pk}/change/", having="last_name", last_name="Marlowe")

    after = read_through_b(instances, readers, pages, world)
    with shown_through_b(instances, f"after the {person} was renamed in the admin through A", after, world) as shown:
        shown.lists(world.incident, new_name, pages=pages_naming_them)
        shown.never_says(old_name, pages=html_pages)


def test_a_new_report_shows_at_once_on_the_other_instance(instances, world, readers):
    """Its page is read through B before it exists (a 404 that must not be kept), then everywhere it is listed."""
    title = "Scanner heron offline"
    expected_id = next_incident_id()
    pages = {**world.pages("heron"), "new incident": f"/incidents/{expected_id}/"}
    before = read_through_b(instances, readers, pages, world)
    with shown_through_b(instances, "before the report", before, world, not_found=("new incident",)) as shown:
        shown.never_says("heron")
        shown.counts(status_counts())
        shown.says(reported_lately(), readers=("responder",), pages=("dashboard",))

    answer = submit(instances, readers["reporter"], "/incidents/new/", having="title", title=title,
                    description="It shows a heron on the display and scans nothing.", category=str(world.category.pk))

    created = Incident.objects.get(title=title)
    assert answer.headers["Location"] == f"/incidents/{created.pk}/"
    pages["new incident"] = f"/incidents/{created.pk}/"
    after = read_through_b(instances, readers, pages, world)
    with shown_through_b(instances, "after a report was filed through A", after, world) as shown:
        shown.lists(created, title, "Open", pages=("list", "search for 'heron'", "new incident", "dashboard", "CSV"))
        shown.lists(world.incident, TITLE, pages=("list", "CSV"))
        shown.counts(status_counts())
        shown.says(reported_lately(), readers=("responder",), pages=("dashboard",))


def test_an_audit_prune_shows_at_once_on_the_other_instance(instances, world, tmp_path):
    """
    `manage.py prune_audit`, run as operators do beside the running instances, removes the
    incident's oldest history; its page, the only one that shows that history, must follow.
    """
    with time_machine.travel(datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(days=400)):
        incident = incident_update(world.incident, actor=world.responder, expected_version=world.incident.version,
                                   description="<p>Paper is stuck in the first tray.</p>")
    incident_transition(incident, actor=world.responder, name="start")
    readers = sign_in_readers(instances, world)
    pages = world.pages()
    old_entry, recent_entry = "edited the description", "changed the status from Open to In progress"
    with shown_through_b(instances, "before the prune", read_through_b(instances, readers, pages, world), world) as shown:
        shown.lists(world.incident, old_entry, recent_entry, pages=("detail",))

    head = AuditLog.objects.in_chain_order().last()
    assert head is not None
    pruned = subprocess.run(
        [sys.executable, "manage.py", "prune_audit", "--archive", str(tmp_path / "audit-archive.jsonl"),
         "--checkpoint", f"{head.sequence}:{head.entry_hash}"],
        cwd=BASE_DIR, env={**os.environ, **instances.env, "AUDIT_RETENTION_DAYS": "30"},
        capture_output=True, text=True,
    )
    assert pruned.returncode == 0 and "Archived and deleted" in pruned.stdout, pruned.stdout + pruned.stderr

    after = read_through_b(instances, readers, pages, world)
    with shown_through_b(instances, "after prune_audit removed the oldest history", after, world) as shown:
        shown.lists(world.incident, recent_entry, pages=("detail",))
        shown.never_says(old_entry, pages=("detail",))
