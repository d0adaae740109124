"""
How a browser step is checked: where the browser ended up, exactly, and what the
person sees there. A check that only waits for "some page" passes on the wrong page too.
"""
from __future__ import annotations

import re

from playwright.sync_api import Page, expect


def expect_at(page: Page, path: str, *, heading: str, message: str | None = None) -> None:
    """
    The browser is at `path` on the live server (path, query string and fragment, nothing
    more), the page's h1 reads `heading`, and the message area shows `message` when given.
    """
    expect(page).to_have_url(re.compile(r"^https?://[^/]+" + re.escape(path) + "$"))
    expect(page.locator("h1")).to_have_text(heading)
    if message is not None:
        expect(page.get_by_role("status")).to_contain_text(message)
