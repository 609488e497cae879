"""One control-socket request from another OS user: a forked child (no exec, so it needs
nothing but the inherited interpreter) drops to that uid and gid, asks, and pipes the answer
back. The kernel's peer credentials are then that user's, as for a real operator. Root only
(the test process must be able to change its uid). Builders only; no tests."""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path
from typing import Any

NOBODY = 65534
NOGROUP = 65534


def request_as(uid: int, gid: int, path: Path, request: dict[str, Any]) -> dict[str, Any]:
    """The answer to ``request`` sent over the socket at ``path`` by ``uid``/``gid``."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: only system calls and json from here on, then _exit
        try:
            os.close(read_end)
            os.setgroups([])
            os.setgid(gid)
            os.setuid(uid)
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
                sock.settimeout(10)
                sock.connect(str(path))
                sock.sendall(json.dumps(request).encode() + b"\n")
                data = b""
                while not data.endswith(b"\n") and (chunk := sock.recv(65536)):
                    data += chunk
            os.write(write_end, data)
        except BaseException as exc:
            failed = {"ok": False, "error": repr(exc), "reason": "test_child_failed"}
            os.write(write_end, json.dumps(failed).encode())
        finally:
            os._exit(0)
    os.close(write_end)
    chunks = []
    while chunk := os.read(read_end, 65536):
        chunks.append(chunk)
    os.close(read_end)
    os.waitpid(pid, 0)
    answer: dict[str, Any] = json.loads(b"".join(chunks))
    return answer
