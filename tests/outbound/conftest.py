"""
Real peers for the queue's tests: an HTTP receiver that answers as a test scripts it and
records what it got, an SMTP sink (aiosmtpd) and an SMTP server that accepts and never
answers. The queue itself is the database one, run by django-tasks-db's own worker loop.
"""
from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from aiosmtpd.controller import Controller
from django_tasks_db.management.commands.db_worker import Worker


def run_queue(worker_id: str = "test-worker") -> None:
    """Run every task that is due now, as `manage.py run_worker` would, then return."""
    Worker(queue_names=["*"], interval=0, batch=True, backend_name="default", startup_delay=False, max_tasks=None,
           worker_id=worker_id, excluded_queue_names=[]).run()


@pytest.fixture
def task_queue(database_queue, transactional_db) -> Callable[[], None]:
    """The database queue, with committed data, as production runs it; call the fixture's value to work it off."""
    return run_queue


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """
    Answers each POST with the next of `script` ("ok", a status code, "hang" or "reset"),
    then 200 for good. `received` holds the requests it answered with a 2xx, `attempted`
    every request.
    """

    url: str = ""
    script: list[int | str] = field(default_factory=list)
    received: list[Received] = field(default_factory=list)
    attempted: list[Received] = field(default_factory=list)

    @property
    def requests(self) -> int:
        return len(self.attempted)


def _handler(receiver: Receiver, release: threading.Event) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            receiver.attempted.append(Received(headers=dict(self.headers.items()), body=body))
            step = receiver.script.pop(0) if receiver.script else 200
            if step == "hang":
                release.wait(30)
                return
            if step == "reset":
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
                self.connection.close()
                return
            status = 200 if step == "ok" else int(step)
            if 200 <= status < 300:
                receiver.received.append(Received(headers=dict(self.headers.items()), body=body))
            self.send_response(status)
            if 300 <= status < 400:
                self.send_header("Location", "http://127.0.0.1:1/")
            self.end_headers()
            self.wfile.write(b"answer")

        def log_message(self, *args: object) -> None:
            pass

    return Handler


@pytest.fixture
def receiver(settings) -> Iterator[Receiver]:
    """A webhook receiver on 127.0.0.1, which deliveries may reach because the test allows loopback."""
    settings.WEBHOOK_ALLOWED_NETWORKS = ["127.0.0.0/8"]
    settings.WEBHOOK_TIMEOUT = 1
    found = Receiver()
    release = threading.Event()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(found, release))
    server.daemon_threads = True
    found.url = f"http://127.0.0.1:{server.server_address[1]}/hooks/incidents"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield found
    release.set()
    server.shutdown()
    server.server_close()


@dataclass
class Sink:
    port: int
    messages: list[Message] = field(default_factory=list)
    # An SMTP code for RCPT TO ("451", "550"), or "" to accept.
    refuse_with: str = ""

    def recipients(self) -> list[str]:
        return sorted(message["To"] for message in self.messages)


class _SinkHandler:
    def __init__(self, sink: Sink) -> None:
        self.sink = sink

    async def handle_RCPT(self, server: object, session: object, envelope: object, address: str,
                          rcpt_options: list[str]) -> str:
        if self.sink.refuse_with:
            return f"{self.sink.refuse_with} Mailbox unavailable"
        envelope.rcpt_tos.append(address)  # type: ignore[attr-defined]
        return "250 OK"

    async def handle_DATA(self, server: object, session: object, envelope: object) -> str:
        self.sink.messages.append(message_from_bytes(envelope.content))  # type: ignore[attr-defined]
        return "250 Message accepted for delivery"


@pytest.fixture
def smtp_sink(settings) -> Iterator[Sink]:
    """A real SMTP server on 127.0.0.1 that keeps what it is sent; the tracker's mail goes to it."""
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    sink = Sink(port=port)
    controller = Controller(_SinkHandler(sink), hostname="127.0.0.1", port=port)
    controller.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_USE_TLS = "127.0.0.1", port, False
    settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
    settings.EMAIL_TIMEOUT = 1
    yield sink
    controller.stop()


@pytest.fixture
def unused_port() -> int:
    """A port on 127.0.0.1 that nothing listens on: connections to it are refused."""
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    return port


@pytest.fixture
def hanging_mail_server(settings) -> Iterator[int]:
    """An SMTP port that accepts connections and never says a word; the tracker's mail goes to it."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(50)
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_USE_TLS = "127.0.0.1", server.getsockname()[1], False
    settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
    settings.EMAIL_TIMEOUT = 1
    yield server.getsockname()[1]
    server.close()
