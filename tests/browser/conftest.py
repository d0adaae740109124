"""
Browser tests: the system Chromium driven by Playwright against pytest-django's live
server, on `localhost` (Chromium keeps the production settings' Secure cookies on
http://localhost, not on 127.0.0.1). Each test saves screenshots under
test-artifacts/screenshots/ (or $BROWSER_SCREENSHOTS). Without /usr/bin/chromium the tests are skipped, saying
so; `.ci/run` installs it, and under CI (CI set) a missing Chromium is an error, so a
green CI run always means the browser tests really ran.
"""
from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.db import connections
from playwright.sync_api import Browser, Page, sync_playwright

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
# .ci/run gives each database pass its own folder.
DEFAULT_SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
SCREENSHOTS = Path(os.environ.get("BROWSER_SCREENSHOTS") or DEFAULT_SCREENSHOTS)


def pytest_collection_modifyitems(config, items):
    if CHROMIUM.exists():
        return
    if os.environ.get("CI"):
        raise pytest.UsageError(f"no Chromium at {CHROMIUM}: CI must run the browser tests (.ci/run installs it)")
    skip = pytest.mark.skip(reason=f"no Chromium at {CHROMIUM}: install it with `apt-get install chromium` (.ci/run does)")
    for item in items:
        if "browser" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
def browser(live_server, monkeypatch) -> Iterator[Browser]:
    """
    One Chromium per test (about half a second to start). Playwright's sync API keeps an
    event loop in this thread while it runs, and Django refuses ORM calls from a thread
    with a running loop; the test code is plain synchronous code, so it is allowed for
    the test's duration, and the loop is gone again before the next test.
    """
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()
        # With the loop running, the test's ORM calls got their own connection (Django
        # keeps connections per async context); close it, or PostgreSQL cannot drop the
        # test database at the end of the run.
        connections.close_all()


@pytest.fixture
def new_page(browser, live_server, request) -> Iterator:
    """`new_page(width=1280)`: a fresh browser context (no cookies) on the live server."""
    contexts = []

    def open_page(*, width: int = 1280, height: int = 900) -> Page:
        context = browser.new_context(base_url=live_server.url, viewport={"width": width, "height": height})
        context.set_default_timeout(10_000)
        contexts.append(context)
        return context.new_page()

    yield open_page
    for context in contexts:
        context.close()


@pytest.fixture
def screenshot(request):
    """`screenshot(page, "step")` saves test-artifacts/screenshots/<test>-<step>.png."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    test_name = re.sub(r"[^A-Za-z0-9_.-]+", "-", request.node.name.removeprefix("test_")).strip("-")

    def save(page: Page, step: str) -> Path:
        path = SCREENSHOTS / f"{test_name}-{step}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return save
