"""The demo console's port: the usual one when free, another free one when it is taken."""

from __future__ import annotations

import socket

from monitor.app.demo_console import console_port, console_text
from tests.support.ports import free_port


def test_the_usual_port_when_free_and_another_when_taken() -> None:
    port = free_port()
    assert console_port(port) == port
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", port))
        holder.listen()
        other = console_port(port)
    assert other != port and 0 < other < 65536


def test_without_an_account_the_console_line_says_so() -> None:
    assert console_text("http://127.0.0.1:8480/", None) == [
        "  web console: http://127.0.0.1:8480/ (no demo account: see the log)"
    ]
    lines = console_text("http://127.0.0.1:8480/", "s3cret-for-this-run")
    assert lines[1].startswith("    sign in as demo-admin with s3cret-for-this-run ")
