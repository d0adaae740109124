"""
The two ways a delivery leaves: SMTP, and an HTTP POST to an address that is checked at
the moment of sending. Each returns an Outcome and never raises for the other side's
failure, so the queue can record the attempt and decide on a retry.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import http.client
import ipaddress
import logging
import smtplib
import socket
import ssl
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.mail import EmailMultiAlternatives, get_connection

logger = logging.getLogger(__name__)

# A receiver's answer is read up to this many bytes: enough for an error message.
MAX_RESPONSE_BYTES = 64 * 1024
# What of it the delivery log keeps.
LOGGED_RESPONSE_CHARS = 500


@dataclass(frozen=True)
class Outcome:
    status_code: int | None = None
    error: str = ""
    # No later try can succeed (the subscription was disabled meanwhile).
    final: bool = False

    @property
    def delivered(self) -> bool:
        return not self.error and (self.status_code is None or 200 <= self.status_code < 300)

    @property
    def gone(self) -> bool:
        """The receiver said the URL no longer exists (410): sending again can never succeed."""
        return self.status_code == 410

    @property
    def hopeless(self) -> bool:
        return self.final or self.gone


class RefusedAddress(Exception):
    """The target resolves to an address deliveries may not reach."""


def send_mail(payload: dict[str, Any], *, message_id: str) -> Outcome:
    """
    One mail to one recipient. The Message-ID is the delivery's own, so a mail sent again
    after a worker died between sending and recording it is the same message to the
    recipient's mail program.
    """
    domain = settings.DEFAULT_FROM_EMAIL.rpartition("@")[2] or "localhost"
    message = EmailMultiAlternatives(subject=payload["subject"], body=payload["text"], to=[payload["to"]],
                                     headers={"Message-ID": f"<{message_id}@{domain}>"})
    if payload.get("html"):
        message.attach_alternative(payload["html"], "text/html")
    try:
        get_connection(fail_silently=False).send_messages([message])
    except Exception as error:  # SMTP, socket and TLS errors alike mean "not sent yet".
        return Outcome(error=f"{error.__class__.__name__}: {_smtp_reason(error)}"[:LOGGED_RESPONSE_CHARS])
    return Outcome()


def _smtp_reason(error: Exception) -> str:
    """The server's own words ("451 Mailbox unavailable") rather than Python's picture of them."""
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        return "; ".join(f"{code} {reply.decode(errors='replace')} ({address})"
                         for address, (code, reply) in error.recipients.items())
    if isinstance(error, smtplib.SMTPResponseException):
        reply = error.smtp_error.decode(errors="replace") if isinstance(error.smtp_error, bytes) else error.smtp_error
        return f"{error.smtp_code} {reply}"
    return str(error)


def _allowed_networks() -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    return [ipaddress.ip_network(network, strict=False) for network in settings.WEBHOOK_ALLOWED_NETWORKS]


def check_address(address: str) -> None:
    """
    Refuse loopback, private, link-local (cloud metadata at 169.254.169.254), shared,
    reserved and multicast addresses, IPv4 ones written as IPv6 included, unless an
    operator allowed their network.
    """
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if any(ip in network for network in _allowed_networks()):
        return
    if not ip.is_global or ip.is_multicast:
        raise RefusedAddress(f"{ip} is not a public address")


def resolve(host: str, port: int) -> str:
    """The address to connect to; every address the name resolves to must pass check_address."""
    try:
        found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as error:
        raise OSError(f"cannot resolve {host}: {error}") from error
    addresses = [str(entry[4][0]) for entry in found]
    for address in addresses:
        check_address(address)
    return addresses[0]


class _PinnedHTTPConnection(http.client.HTTPConnection):
    """Connects to the address that was checked, whatever the name resolves to a moment later (DNS rebinding)."""

    def __init__(self, host: str, address: str, **kwargs: Any) -> None:
        super().__init__(host, **kwargs)
        self.address = address

    def connect(self) -> None:
        self.sock = socket.create_connection((self.address, self.port), self.timeout)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    def __init__(self, host: str, address: str, **kwargs: Any) -> None:
        super().__init__(host, context=ssl.create_default_context(), **kwargs)
        self.address = address

    def connect(self) -> None:
        sock = socket.create_connection((self.address, self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)  # type: ignore[attr-defined]


def post_json(url: str, body: bytes, headers: dict[str, str]) -> Outcome:
    """
    POST `body` to `url` without following redirects (a 3xx is a failure, so a redirect
    cannot lead to a refused address), with WEBHOOK_TIMEOUT on each network step.
    """
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return Outcome(error=f"not an http(s) URL: {url[:100]}")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        address = resolve(parts.hostname, port)
    except RefusedAddress as refusal:
        logger.warning("webhook refused: %s resolves to a forbidden address (%s)", parts.hostname, refusal)
        return Outcome(error=f"refused: {parts.hostname} resolves to a forbidden address ({refusal})")
    except OSError as error:
        return Outcome(error=str(error)[:LOGGED_RESPONSE_CHARS])
    connection_class = _PinnedHTTPSConnection if parts.scheme == "https" else _PinnedHTTPConnection
    connection = connection_class(parts.hostname, address, port=port, timeout=settings.WEBHOOK_TIMEOUT)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    try:
        connection.request("POST", path, body=body,
                           headers={"Content-Type": "application/json", "User-Agent": "incident-tracker-webhooks",
                                    **headers})
        response = connection.getresponse()
        answer = response.read(MAX_RESPONSE_BYTES).decode("utf-8", "replace")
    except (OSError, http.client.HTTPException) as error:
        return Outcome(error=f"{error.__class__.__name__}: {error}"[:LOGGED_RESPONSE_CHARS])
    finally:
        connection.close()
    if 200 <= response.status < 300:
        return Outcome(status_code=response.status)
    return Outcome(status_code=response.status,
                   error=f"HTTP {response.status}: {answer[:LOGGED_RESPONSE_CHARS]}".strip())


def sign(secret: str, *, message_id: str, timestamp: int, body: bytes) -> str:
    """The `webhook-signature` header of the Standard Webhooks specification (HMAC-SHA256, version v1)."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{message_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


def signed_headers(secret: str, *, message_id: str, body: bytes) -> dict[str, str]:
    timestamp = int(time.time())
    return {"webhook-id": message_id, "webhook-timestamp": str(timestamp),
            "webhook-signature": sign(secret, message_id=message_id, timestamp=timestamp, body=body)}
