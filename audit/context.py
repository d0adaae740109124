"""
Where the current request came from, for the audit rows written while serving it.

Services take the acting user as an argument; the source address and user agent are
request facts that services should not have to thread through every call, so the
middleware records them here for the duration of one request. `via` names the channel
a change came through when it is not the web pages (an API token, an alert
integration); whoever authenticates that channel sets it, and this app stays ignorant
of what the channels are.
"""
from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass


@dataclass(frozen=True)
class RequestOrigin:
    ip_address: str | None = None
    user_agent: str = ""
    via: str = ""


NO_ORIGIN = RequestOrigin()
current_origin: ContextVar[RequestOrigin] = ContextVar("audit_request_origin", default=NO_ORIGIN)
