"""
`manage.py smoke --url https://incidents.example.com`: the checks to run after every
deployment, against the running instance from outside, as a person's browser sees it.
"""
from __future__ import annotations

import json
import re
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any, Callable
from urllib.parse import urljoin, urlsplit

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

STYLESHEET = re.compile(r'<link[^>]+rel="stylesheet"[^>]+href="([^"]+)"')
CSRF_FIELD = re.compile(r'name="csrfmiddlewaretoken" value="[^"]{32,}"')


@dataclass
class Page:
    status: int
    content_type: str
    text: str


class CheckFailed(Exception):
    pass


def get(url: str, *, timeout: float, headers: dict[str, str] | None = None) -> Page:
    """GET following redirects; an HTTP error status is an answer, a network failure is not."""
    request = urllib.request.Request(url, headers={"User-Agent": "incident-tracker-smoke", **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return Page(response.status, response.headers.get_content_type(), response.read().decode("utf-8", "replace"))
    except urllib.error.HTTPError as error:
        return Page(error.code, error.headers.get_content_type(), error.read().decode("utf-8", "replace"))
    except (urllib.error.URLError, OSError) as error:
        raise CheckFailed(f"no answer ({getattr(error, 'reason', error)})") from error


class Command(BaseCommand):
    help = "Check a running instance after a deployment: pages, health, migrations, sign-in and static files."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--url", required=True, help="Base address of the instance, e.g. https://incidents.example.com")
        parser.add_argument("--timeout", type=float, default=10.0, help="Seconds to wait for each answer (default 10).")

    def handle(self, *args: Any, url: str, timeout: float, **options: Any) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise CommandError(f"--url must be an http:// or https:// address, not {url!r}.")
        self.base = url.rstrip("/") + "/"
        self.timeout = timeout
        self.login_page = ""
        checks: list[tuple[str, Callable[[], str]]] = [
            ("app answers", self.check_home),
            ("liveness /healthz", self.check_healthz),
            ("readiness /readyz", self.check_readyz),
            ("sign-in page", self.check_sign_in),
            ("static CSS", self.check_static),
        ]
        failures = 0
        for name, check in checks:
            try:
                detail = check()
            except CheckFailed as failure:
                failures += 1
                self.stdout.write(self.style.ERROR(f"FAIL {name}: {failure}"))
            else:
                self.stdout.write(self.style.SUCCESS(f"PASS {name}: {detail}"))
        if failures:
            raise CommandError(f"{failures} of {len(checks)} checks failed against {self.base}")

    def fetch(self, path: str) -> Page:
        return get(urljoin(self.base, path), timeout=self.timeout)

    def check_home(self) -> str:
        page = self.fetch("")
        if page.status != 200:
            raise CheckFailed(f"/ answered {page.status}")
        return "/ answered 200"

    def check_healthz(self) -> str:
        page = self.fetch("healthz")
        if page.status != 200:
            raise CheckFailed(f"answered {page.status}")
        return "200"

    def check_readyz(self) -> str:
        """With METRICS_TOKEN set here, as on the site, /readyz shows its details; without it only the status."""
        token = settings.METRICS_TOKEN
        page = get(urljoin(self.base, "readyz"), timeout=self.timeout,
                   headers={"Authorization": f"Bearer {token}"} if token else None)
        try:
            body = json.loads(page.text)
        except ValueError:
            raise CheckFailed(f"answered {page.status} without JSON") from None
        if page.status != 200:
            pending = ", ".join(body.get("unapplied_migrations", [])) or "none"
            raise CheckFailed(f"answered {page.status}: database {body.get('database')}, cache {body.get('cache')}, "
                              f"unapplied migrations: {pending}")
        return f"200, database ok, migrations applied, cache ok, version {body.get('version')}"

    def check_sign_in(self) -> str:
        page = self.fetch("accounts/login/")
        if page.status != 200:
            raise CheckFailed(f"answered {page.status}")
        if not CSRF_FIELD.search(page.text):
            raise CheckFailed("the form has no CSRF token")
        self.login_page = page.text
        return "200 with a CSRF token"

    def check_static(self) -> str:
        stylesheet = STYLESHEET.search(self.login_page)
        if stylesheet is None:
            raise CheckFailed("the sign-in page links no stylesheet")
        page = self.fetch(stylesheet.group(1))
        if page.status != 200 or page.content_type != "text/css":
            raise CheckFailed(f"{stylesheet.group(1)} answered {page.status} {page.content_type}")
        return f"{stylesheet.group(1)} served as text/css"
