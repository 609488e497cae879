"""A flood of malformed requests, or of requests tripping one bug, leaves one log line a
minute per kind, the next one saying how many were held back; every client still gets its
answer."""

from __future__ import annotations

import logging
import socket
import time
from pathlib import Path

import httpx
import pytest

from monitor.app.web.log_limits import SERVER_LOGGER, RateLimitedServerLog
from tests.support.web import ThreadedConsole, probe_routes


def garbage(port: int) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(b"\x16\x03\x01 this is not HTTP\r\n\r\n")
        answer = b""
        while chunk := sock.recv(4096):
            answer += chunk
    return answer


def lines(caplog: pytest.LogCaptureFixture, text: str) -> list[str]:
    return [r.getMessage() for r in caplog.records if text in r.getMessage()]


def test_a_flood_of_malformed_requests_is_logged_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO), ThreadedConsole(tmp_path, routes=probe_routes()) as web:
        answers = [garbage(web.settings.port) for _ in range(50)]
        for _ in range(20):
            assert httpx.get(web.url + "api/probe/bug", timeout=5).status_code == 500
        time.sleep(0.3)  # the server logs a failure after answering
        assert web.server is not None
        held_back = web.server.log_limit.held_back
    assert all(a.startswith(b"HTTP/1.1 400 Bad Request") for a in answers)
    assert len(lines(caplog, "Invalid HTTP request received.")) == 1
    assert len(lines(caplog, "Exception in ASGI application")) == 1
    assert held_back == 49 + 19


def test_the_next_line_after_a_minute_says_how_many_were_held_back() -> None:
    limit = RateLimitedServerLog(interval=0.05)
    logger = logging.getLogger(SERVER_LOGGER)

    def record() -> logging.LogRecord:
        return logger.makeRecord(SERVER_LOGGER, logging.WARNING, "h11", 1, "Bad.", (), None)

    assert limit.filter(record())
    assert [limit.filter(record()) for _ in range(3)] == [False] * 3
    time.sleep(0.06)
    later = record()
    assert limit.filter(later)
    assert later.getMessage() == "Bad. (3 more like it in the last minute not logged)"
    info = logger.makeRecord(SERVER_LOGGER, logging.INFO, "h11", 1, "Shutting down", (), None)
    assert all(limit.filter(info) for _ in range(5))  # below warning: never held back


def test_uvicorns_terminal_colours_do_not_reach_the_daemons_log() -> None:
    logger = logging.getLogger(SERVER_LOGGER)
    record = logger.makeRecord(
        SERVER_LOGGER,
        logging.INFO,
        "server",
        1,
        "Started server process [%d]",
        (7,),
        None,
        extra={"color_message": "Started server process [\x1b[36m%d\x1b[0m]"},
    )
    assert RateLimitedServerLog().filter(record)
    assert "color_message" not in record.__dict__
