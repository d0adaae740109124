"""Deliveries never reach the machine itself, the private network or the cloud's metadata service."""
from __future__ import annotations

import logging
import socket

import pytest

from outbound import transport
from outbound.transport import post_json


@pytest.mark.parametrize("url", [
    "http://127.0.0.1:8000/admin/",
    "http://169.254.169.254/latest/meta-data/iam/security-credentials/",
    "http://10.0.0.5/internal",
    "http://192.168.1.1/",
    "http://172.16.0.1/",
    "http://[::1]:8000/",
    "http://[::ffff:127.0.0.1]/",
    "http://[fd00::1]/",
    "http://0.0.0.0:8000/",
    "http://100.64.0.1/",
    "http://localhost:8000/",
])
def test_a_private_or_loopback_target_is_refused_and_logged(url, caplog):
    with caplog.at_level(logging.WARNING, logger="outbound.transport"):
        outcome = post_json(url, b"{}", {})
    assert not outcome.delivered
    assert outcome.error.startswith("refused:")
    assert "forbidden address" in caplog.text


def test_a_public_name_that_resolves_to_loopback_is_refused(monkeypatch, caplog):
    def resolves_to_loopback(host, port, *args, **kwargs):
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", port))]

    monkeypatch.setattr(transport.socket, "getaddrinfo", resolves_to_loopback)
    with caplog.at_level(logging.WARNING, logger="outbound.transport"):
        outcome = post_json("https://hooks.example.com/incidents", b"{}", {})
    assert outcome.error.startswith("refused: hooks.example.com resolves to a forbidden address")
    assert "hooks.example.com" in caplog.text


def test_the_connection_goes_to_the_checked_address_even_if_the_name_changes_after_the_check(
        monkeypatch, receiver, settings):
    """DNS rebinding: the name resolves once, to an allowed address, and that address is what is connected to."""
    settings.WEBHOOK_ALLOWED_NETWORKS = ["127.0.0.1/32"]
    answers = iter(["127.0.0.1", "127.0.0.2"])
    port = int(receiver.url.rsplit(":", 1)[1].split("/")[0])
    real_getaddrinfo = socket.getaddrinfo

    def rebinding(host, port, *args, **kwargs):
        if host != "rebind.example.com":
            return real_getaddrinfo(host, port, *args, **kwargs)
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (next(answers), port))]

    monkeypatch.setattr(transport.socket, "getaddrinfo", rebinding)
    outcome = post_json(f"http://rebind.example.com:{port}/hooks", b"{}", {})
    assert outcome.delivered
    assert receiver.received[0].headers["Host"] == f"rebind.example.com:{port}"


def test_a_redirect_to_loopback_is_not_followed(receiver, settings):
    settings.WEBHOOK_ALLOWED_NETWORKS = ["127.0.0.1/32"]
    receiver.script = [302]
    outcome = post_json(receiver.url, b"{}", {})
    assert not outcome.delivered
    assert outcome.status_code == 302
    assert receiver.requests == 1


def test_an_allowed_network_is_reachable(receiver):
    assert post_json(receiver.url, b"{}", {}).delivered


def test_only_http_and_https_are_sent(settings):
    assert post_json("file:///etc/passwd", b"{}", {}).error.startswith("not an http(s) URL")
    assert post_json("gopher://127.0.0.1/", b"{}", {}).error.startswith("not an http(s) URL")


def test_a_large_answer_is_read_only_up_to_the_limit(monkeypatch, receiver):
    monkeypatch.setattr(transport, "MAX_RESPONSE_BYTES", 10)
    receiver.script = [500]
    outcome = post_json(receiver.url, b"{}", {})
    assert outcome.error == "HTTP 500: answer"
