"""Finding and calling a running simulator's control endpoint (blocking: for the CLI).

A running ``coldwatch sim -c FILE`` writes ``FILE``'s name with ``.control.json`` in place
of its suffix (``sim-demo.yaml`` -> ``sim-demo.control.json``) beside it, holding the
endpoint's address; ``coldwatch sim fault -c FILE`` reads it. ``--control PORT`` skips the
file.
"""

from __future__ import annotations

import http.client
import json
import os
from pathlib import Path
from typing import Any

Address = tuple[str, int]


class ControlError(Exception):
    """The simulator could not be reached, or refused the request (the message says why)."""


def state_file_for(config: str | Path) -> Path:
    config = Path(config)
    return config.with_name(config.stem + ".control.json")


def write_state(path: Path, address: Address, config: str | Path) -> None:
    """Written atomically: a reader never sees half a file."""
    tmp = path.with_name(path.name + ".tmp")
    body = {"host": address[0], "port": address[1], "pid": os.getpid(), "config": str(config)}
    tmp.write_text(json.dumps(body) + "\n")
    tmp.replace(path)


def read_state(path: Path) -> Address:
    try:
        data = json.loads(path.read_text())
        return str(data["host"]), int(data["port"])
    except FileNotFoundError:
        raise ControlError(
            f"{path} not found: is a simulator running with this configuration? "
            "(start one with `coldwatch sim -c FILE`, or give --control PORT)"
        ) from None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ControlError(f"{path} is not a simulator state file: {exc}") from None


def parse_address(text: str) -> Address:
    """``PORT`` or ``HOST:PORT``."""
    host, _, port = text.rpartition(":")
    if not port.isdigit():
        raise ControlError(f"'{text}' is not PORT or HOST:PORT")
    return host or "127.0.0.1", int(port)


def call(
    address: Address, method: str, path: str, body: dict[str, Any] | None = None
) -> dict[str, Any]:
    """One request; the decoded JSON answer, or ControlError with the simulator's message."""
    conn = http.client.HTTPConnection(address[0], address[1], timeout=10)
    payload = json.dumps(body).encode() if body is not None else None
    headers = {"Content-Type": "application/json"} if payload else {}
    try:
        conn.request(method, path, body=payload, headers=headers)
        response = conn.getresponse()
        text = response.read()
    except OSError as exc:
        raise ControlError(
            f"no simulator answers at {address[0]}:{address[1]} ({exc}); is it running?"
        ) from None
    finally:
        conn.close()
    try:
        answer = json.loads(text)
    except ValueError:
        raise ControlError(f"unexpected answer from {address[0]}:{address[1]}") from None
    if response.status != 200:
        raise ControlError(str(answer.get("error", answer)))
    if not isinstance(answer, dict):
        raise ControlError(f"unexpected answer from {address[0]}:{address[1]}")
    return answer
