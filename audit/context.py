"""
Where the current request came from, for the audit rows written while serving it.

Services take the acting user as an argument; the source address and user agent are
request facts that services should not have to thread through every call, so the
middleware records them here for the duration of one request.
"""
from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass


@dataclass(frozen=True)
class RequestOrigin:
    ip_address: str | None = None
    user_agent: str = ""


NO_ORIGIN = RequestOrigin()
current_origin: ContextVar[RequestOrigin] = ContextVar("audit_request_origin", default=NO_ORIGIN)
