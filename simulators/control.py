"""The control endpoint of a running simulation: a tiny HTTP/JSON server on loopback.

    GET  /status                                  devices, faults, values, speed
    POST /fault   {"device": ID, "fault": NAME, "clear": false}
    POST /advance {"seconds": N}                  fast-forward simulated time
    POST /speed   {"speed": N}

It listens on 127.0.0.1 only and has no authentication: anyone on the machine may inject
faults into the *simulator*. Never expose it. ``curl`` works as a client, and so does
``coldwatch sim fault`` (:mod:`simulators.control_client`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import Any

from simulators.simulation import Simulation

log = logging.getLogger(__name__)

MAX_BODY = 64 * 1024
READ_TIMEOUT_S = 5.0
_REASONS = {
    200: "OK",
    400: "Bad Request",
    404: "Not Found",
    405: "Method Not Allowed",
    500: "Internal Server Error",
}


class BadRequest(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class ControlServer:
    def __init__(self, sim: Simulation, host: str = "127.0.0.1", port: int = 0) -> None:
        self.sim = sim
        self.host = host
        self.port = port
        self._server: asyncio.Server | None = None
        self._handlers: set[asyncio.Task[Any]] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, self.host, self.port)
        self.port = int(self._server.sockets[0].getsockname()[1])

    async def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.close()
            await server.wait_closed()
        for task in list(self._handlers):
            task.cancel()
        if self._handlers:
            await asyncio.gather(*self._handlers, return_exceptions=True)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._handlers.add(task)
        try:
            try:
                async with asyncio.timeout(READ_TIMEOUT_S):
                    method, path, body = await _read_request(reader)
                status, answer = 200, self.dispatch(method, path, body)
            except BadRequest as exc:
                status, answer = exc.status, {"error": str(exc)}
            except (TimeoutError, asyncio.IncompleteReadError, ConnectionError):
                return
            except Exception as exc:  # a bug: say so to the caller, keep serving
                log.exception("control request failed")
                status, answer = 500, {"error": f"internal error: {exc}"}
            payload = json.dumps(answer).encode()
            writer.write(
                f"HTTP/1.1 {status} {_REASONS.get(status, 'Error')}\r\n"
                "Content-Type: application/json\r\n"
                f"Content-Length: {len(payload)}\r\nConnection: close\r\n\r\n".encode()
                + payload
            )
            with contextlib.suppress(ConnectionError):
                await writer.drain()
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError, asyncio.CancelledError):
                await writer.wait_closed()
            if task is not None:
                self._handlers.discard(task)

    def dispatch(self, method: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
        """Run one request against the simulation; BadRequest for anything wrong."""
        sim = self.sim
        if path == "/status":
            if method != "GET":
                raise BadRequest(405, "use GET /status")
            return sim.status()
        if method != "POST":
            if path in ("/fault", "/advance", "/speed"):
                raise BadRequest(405, f"use POST {path}")
            raise BadRequest(404, f"no such endpoint {path}")
        try:
            if path == "/fault":
                device, fault = _text(body, "device"), _text(body, "fault")
                sim.set_fault(device, fault, active=not bool(body.get("clear", False)))
                return {"device": device, "faults": sorted(sim.device(device).model.faults)}
            if path == "/advance":
                sim.advance(_number(body, "seconds"))
                return {"ok": True}
            if path == "/speed":
                sim.set_speed(_number(body, "speed"))
                return {"speed": sim.speed}
        except ValueError as exc:
            raise BadRequest(400, str(exc)) from None
        raise BadRequest(404, f"no such endpoint {path}")


def _text(body: dict[str, Any], key: str) -> str:
    value = body.get(key)
    if not isinstance(value, str) or not value:
        raise ValueError(f"'{key}' is required (a string)")
    return value


def _number(body: dict[str, Any], key: str) -> float:
    value = body.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"'{key}' is required (a number)")
    return float(value)


async def _read_request(reader: asyncio.StreamReader) -> tuple[str, str, dict[str, Any]]:
    request_line = (await reader.readline()).decode("latin-1").strip()
    parts = request_line.split()
    if len(parts) != 3 or not parts[2].startswith("HTTP/"):
        raise BadRequest(400, "not an HTTP request")
    method, target = parts[0].upper(), parts[1]
    length = 0
    while True:
        line = (await reader.readline()).decode("latin-1").strip()
        if not line:
            break
        name, _, value = line.partition(":")
        if name.strip().lower() == "content-length":
            if not value.strip().isdigit():
                raise BadRequest(400, "bad Content-Length")
            length = int(value.strip())
    if length > MAX_BODY:
        raise BadRequest(400, "request body too large")
    body: dict[str, Any] = {}
    if length:
        try:
            parsed = json.loads(await reader.readexactly(length))
        except (ValueError, UnicodeDecodeError):
            raise BadRequest(400, "the body must be a JSON object") from None
        if not isinstance(parsed, dict):
            raise BadRequest(400, "the body must be a JSON object")
        body = parsed
    return method, target.split("?", 1)[0], body
