"""The request-body limit (413 before the body is read, whether its length is declared or
it comes in chunks) and the same-origin headers on every answer; over real HTTP."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from monitor.app.web import limits
from monitor.app.web.limits import CONTENT_SECURITY_POLICY
from tests.support.web import ThreadedConsole, probe_routes

LIMIT = 4096


@pytest.fixture(scope="module")
def console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ThreadedConsole]:
    with ThreadedConsole(
        tmp_path_factory.mktemp("web"), routes=probe_routes(), max_body_bytes=LIMIT
    ) as served:
        yield served


def raw_exchange(console: ThreadedConsole, head: bytes, chunks: list[bytes]) -> tuple[int, bytes]:
    """Send ``head`` then each chunk as far as the server lets us; the status and body."""
    port = console.settings.port
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(head)
        try:
            for chunk in chunks:
                sock.sendall(chunk)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server answered and closed before reading it all: the point
        received = b""
        try:
            while True:
                data = sock.recv(65536)
                if not data:
                    break
                received += data
        except ConnectionResetError:
            pass
    head_part, _, body = received.partition(b"\r\n\r\n")
    status = int(head_part.split(b" ", 2)[1])
    return status, body


def item(size: int) -> bytes:
    note = "n" * max(0, size - len(json.dumps({"name": "a", "count": 1, "note": ""})))
    body = json.dumps({"name": "a", "count": 1, "note": note}).encode()
    assert len(body) == size
    return body


def test_a_declared_length_over_the_limit_is_refused_before_the_body_is_sent(
    console: ThreadedConsole,
) -> None:
    head = (
        b"POST /api/probe/items HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"Content-Type: application/json\r\nContent-Length: 10000000\r\n\r\n"
    )
    status, body = raw_exchange(console, head, [])  # not a byte of the body sent
    assert status == 413
    assert json.loads(body) == {
        "error": f"the request body is larger than the {LIMIT} bytes this server accepts",
        "reason": "body_too_large",
    }


def test_a_chunked_body_over_the_limit_is_refused_as_it_passes_it(
    console: ThreadedConsole,
) -> None:
    head = (
        b"POST /api/probe/items HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
    )
    chunk = b"x" * 1000
    chunks = [b"%x\r\n%s\r\n" % (len(chunk), chunk)] * 50 + [b"0\r\n\r\n"]
    status, body = raw_exchange(console, head, chunks)
    assert status == 413
    assert json.loads(body)["reason"] == "body_too_large"


def test_bodies_up_to_the_limit_pass_whole_declared_or_chunked(console: ThreadedConsole) -> None:
    with httpx.Client(base_url=console.url, timeout=10) as client:
        exact = client.post(
            "/api/probe/items", content=item(200), headers={"content-type": "application/json"}
        )
        assert exact.status_code == 201, exact.text
        big = client.post(
            "/api/probe/items", content=item(LIMIT), headers={"content-type": "application/json"}
        )
        assert big.status_code == 422  # the note is too long: the route saw the whole body
        assert big.json()["detail"][0]["loc"] == ["body", "note"]
        over = client.post(
            "/api/probe/items",
            content=item(LIMIT + 1),
            headers={"content-type": "application/json"},
        )
        assert over.status_code == 413

        def pieces() -> Iterator[bytes]:  # no Content-Length: httpx sends it chunked
            body = item(200)
            yield body[:50]
            yield body[50:]

        chunked = client.post(
            "/api/probe/items", content=pieces(), headers={"content-type": "application/json"}
        )
        assert chunked.status_code == 201, chunked.text
        assert chunked.json()["name"] == "a"


def test_a_length_that_is_not_a_number_is_400(console: ThreadedConsole) -> None:
    head = (
        b"POST /api/probe/items HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"Content-Type: application/json\r\nContent-Length: lots\r\n\r\n"
    )
    status, _ = raw_exchange(console, head, [])
    assert status == 400


def test_every_answer_carries_the_same_origin_headers(console: ThreadedConsole) -> None:
    with httpx.Client(base_url=console.url, timeout=10) as client:
        for path in ("/", "/healthz", "/no-such-page", "/static/css/coldwatch.css"):
            response = client.get(path)
            assert response.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
            assert response.headers["x-content-type-options"] == "nosniff"
            assert response.headers["x-frame-options"] == "DENY"
            assert "strict-transport-security" not in response.headers  # not over TLS
            cached = response.headers.get("cache-control")
            assert (cached == "no-store") != path.startswith("/static/"), (path, cached)
        assert "server" not in client.get("/healthz").headers


def test_a_body_that_does_not_arrive_in_time_is_408(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(limits, "BODY_TIMEOUT", 0.5)
    with ThreadedConsole(tmp_path, routes=probe_routes()) as slow_console:
        head = (
            b"POST /api/probe/items HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Content-Type: application/json\r\nContent-Length: 100\r\n\r\n"
        )
        started = time.monotonic()
        status, body = raw_exchange(slow_console, head, [b'{"name": '])  # and then nothing
        waited = time.monotonic() - started
    assert status == 408
    assert json.loads(body) == {
        "error": "the request body did not arrive within 0.5 s",
        "reason": "request_timeout",
    }
    assert 0.4 < waited < 3.0
