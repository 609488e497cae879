"""Loopback ports for the tests' peers."""

from __future__ import annotations

import socket


def free_port() -> int:
    """A port on 127.0.0.1 that was free a moment ago (the OS picks it).

    Another process may take it before the caller listens on it: where a peer can listen on
    port 0 itself and say which port it got, let it do that instead.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ClosedPorts:
    """Loopback ports where a connection is refused, and stays refused: each is bound by a
    socket that never listens, so no other test or process (under ``pytest -n``, another
    worker) can start listening on it meanwhile. Closed by :meth:`close`."""

    def __init__(self) -> None:
        self._held: list[socket.socket] = []

    def __call__(self) -> int:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        self._held.append(sock)
        return int(sock.getsockname()[1])

    def close(self) -> None:
        for sock in self._held:
            sock.close()
        self._held.clear()
