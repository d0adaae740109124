"""
The one cache layer of the pages, on Django's cache framework: the cache in settings
(Redis, or a database table) is shared by every worker of every instance, and nothing
here is kept in a worker's own memory.

It keys what is dear to make and changes only when an incident does: the dashboard's
figures over the last days, kept as rendered markup by the `{% cache %}` fragment in
incidents/templates/incidents/dashboard.html under a key that names the current
incidents generation, a random token in the cache.

What makes a kept fragment wrong: an incident reported, edited, moved through the
workflow, or loaded in bulk. Every path that writes incidents calls incidents_changed()
(incidents/services.py, which the views, the admin and the demo seed use; the demo
seed's backdating; incidents/seeding.py for bulk loads); the token is replaced once the
write commits, so a page rendered before the commit kept its fragment under a token no
later page uses. A token dropped by the cache (culled, or Redis restarted) is simply
made anew: nothing is read under an old one again. Comments, categories and people are
not part of any kept fragment, so their writes and sign-ins change nothing here.
"""
from __future__ import annotations

import secrets

from django.core.cache import cache
from django.db import transaction

GENERATION_KEY = "incidents-generation"
# Fragments go after this long even without a write: a day's figures are drawn again now and then.
KEPT_SECONDS = 3600


def incidents_generation() -> str:
    """The token to key by: it changes once any write to an incident commits."""
    token = cache.get(GENERATION_KEY)
    if token is None:
        cache.add(GENERATION_KEY, secrets.token_hex(8), None)
        token = cache.get(GENERATION_KEY)
    return str(token)


def _replace_generation() -> None:
    cache.set(GENERATION_KEY, secrets.token_hex(8), None)


def incidents_changed() -> None:
    """Called by every write to incidents: values kept until then are not read again once it commits."""
    transaction.on_commit(_replace_generation)
