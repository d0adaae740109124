"""
The benchmark's HTTP client counts a request as a connection-level failure only when a
browser would have shown one: a connection the server closed while idle (its keep-alive
timeout) is replaced before the next request, as browsers and urllib3 do, while a
connection cut during a request still counts.
"""
from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest

from tests.bench.run import HOST, ConnectionFailure, Session

OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: keep-alive\r\n\r\nok"


def read_request(connection: socket.socket) -> bytes:
    received = b""
    while b"\r\n\r\n" not in received:
        chunk = connection.recv(4096)
        if not chunk:
            break
        received += chunk
    return received


@contextmanager
def server(handle: Callable[[socket.socket], None], *, connections: int) -> Iterator[tuple[int, list[str]]]:
    """A loopback server that hands each of its first `connections` connections to `handle`, then stops."""
    listener = socket.create_server((HOST, 0))
    accepted: list[str] = []

    def serve() -> None:
        for _ in range(connections):
            connection, peer = listener.accept()
            with connection:
                accepted.append(f"{peer[0]}:{peer[1]}")
                handle(connection)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1], accepted
    finally:
        thread.join(timeout=5)
        listener.close()


def test_a_kept_alive_connection_the_server_closed_while_idle_is_replaced_not_failed():
    answered = threading.Event()

    def answer_once_then_close(connection: socket.socket) -> None:
        read_request(connection)
        connection.sendall(OK)
        answered.set()
        # The keep-alive timeout: the server closes the idle connection.

    with server(answer_once_then_close, connections=2) as (port, accepted):
        session = Session(port)
        assert session.request("GET", "/").status == 200
        answered.wait(timeout=5)
        assert session.connection.sock is not None
        session.connection.sock.recv(1, socket.MSG_PEEK)  # the server's close has arrived

        assert session.request("GET", "/").status == 200
    assert len(accepted) == 2, "the second request went over a new connection"


def test_a_connection_cut_during_a_request_still_counts_as_a_failure():
    def close_without_answering(connection: socket.socket) -> None:
        read_request(connection)
        # Closed with the request read and no answer sent, as a worker that dies mid-request.

    with server(close_without_answering, connections=1) as (port, _):
        with pytest.raises(ConnectionFailure):
            Session(port).request("GET", "/")
