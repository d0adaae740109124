"""Template context every page shares."""
from __future__ import annotations

from django.http import HttpRequest

from . import __version__


def version(request: HttpRequest) -> dict[str, str]:
    """The running release, for the footer: what a user quotes when reporting a problem."""
    return {"app_version": __version__}
