"""
The signed-in user and their second-factor device, read once per worker instead of on
every request.

Every page reads both (AuthenticationMiddleware, then OTPMiddleware): two queries that
cost about half of what the cheapest page costs (docs/performance.md). Each worker keeps
the rows it read, as values, under a token in the shared cache. Any user or device saved
or deleted anywhere (a view, the admin, the shell, another worker) replaces the token
once the write commits (accounts.apps), so the next request in every worker reads the
rows afresh: a deactivation, a new password or a removed authenticator takes effect at
once. A row is kept ROW_SECONDS at most, for changes made outside the application.
Each request gets its own model instance, built from the kept values.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any, TypeVar, cast

from django.db import DEFAULT_DB_ALIAS, transaction
from django.db.models import Model

from incident_tracker.tokens import SIGNED_IN_ROWS, current_token, replace_token

ROW_SECONDS = 30
# Rows kept per worker: one user and one device per person signed in to it lately.
KEPT_ROWS = 10_000
M = TypeVar("M", bound=Model)


@dataclass(frozen=True)
class KeptRow:
    token: str
    until: float
    model: type[Model] | None  # None: there was no such row
    values: tuple[Any, ...]

    def instance(self) -> Model | None:
        if self.model is None:
            return None
        return self.model.from_db(DEFAULT_DB_ALIAS, [field.attname for field in self.model._meta.concrete_fields],
                                  self.values)


_rows: dict[str, KeptRow] = {}


def forget_signed_in_rows(**kwargs: Any) -> None:
    """
    Receiver for a saved or deleted user or device: every worker reads the rows again.
    The token is replaced at once, and again once the write commits: a request that read
    the old row in between kept it under a token no later request uses.
    """
    replace_token(SIGNED_IN_ROWS)
    transaction.on_commit(partial(replace_token, SIGNED_IN_ROWS))


def signed_in_row(key: str, read: Callable[[], M | None]) -> M | None:
    """read()'s row for `key`, as a new instance, from this worker's copy while no user or device changed."""
    # The token is read before the row: a write that commits in between replaces it, and
    # the row read then is kept under the old token, which no later request matches.
    token, now = current_token(SIGNED_IN_ROWS), time.monotonic()
    kept = _rows.get(key)
    if kept is not None and kept.token == token and kept.until > now:
        return cast("M | None", kept.instance())
    row = read()
    if len(_rows) >= KEPT_ROWS:
        _rows.clear()
    _rows[key] = KeptRow(token, now + ROW_SECONDS, type(row) if row is not None else None,
                         tuple(getattr(row, field.attname) for field in row._meta.concrete_fields) if row else ())
    return row
