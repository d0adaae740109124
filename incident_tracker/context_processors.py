"""Template context every page shares."""
from __future__ import annotations

from functools import lru_cache

from django.http import HttpRequest
from django.urls import get_script_prefix, get_urlconf, reverse

from . import __version__

# The pages every page links to from its header.
NAVIGATION = ("dashboard", "incidents:list", "incidents:create", "admin:index", "accounts:preferences",
              "accounts:security", "accounts:logout")


def version(request: HttpRequest) -> dict[str, str]:
    """The running release, for the footer: what a user quotes when reporting a problem."""
    return {"app_version": __version__}


@lru_cache(maxsize=8)
def _navigation(prefix: str, urlconf: str | None) -> dict[str, str]:
    return {name.replace(":", "_"): reverse(name, urlconf=urlconf) for name in NAVIGATION}


def navigation(request: HttpRequest) -> dict[str, dict[str, str]]:
    """
    The addresses the header links to, `nav.incidents_list` and so on (pages use them
    too), reversed once per worker, URL prefix and configuration rather than on every
    page: they never change while it runs, and the header alone draws seven.
    """
    return {"nav": _navigation(get_script_prefix(), get_urlconf())}
