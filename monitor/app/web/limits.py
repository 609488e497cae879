"""Two ASGI middlewares every answer passes through: the request-body limit, and the headers
that keep a page to its own origin.

uvicorn and Starlette read a body of any size into memory; here a body whose declared length
is over the limit is refused before a byte of it is read, and one sent without a length
(chunked) is refused as soon as it passes the limit. The body is read here, bounded in size
and time, and handed on whole, so no route can see more than the limit, and no slow client
holds the daemon's stop.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from monitor.core.clock import Clock

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

#: A request body must arrive within this many seconds (a slow client holds a connection).
BODY_TIMEOUT = 30.0

#: A refused body's rest is read and dropped up to this many bytes and seconds (never kept).
DRAIN_BYTES = 64 * 1024
DRAIN_SECONDS = 1.0

#: Pages and scripts come from this origin only: nothing loads from the internet, no inline
#: script runs, and no other site may frame a page.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; "
    "object-src 'none'"
)


async def _answer(send: Send, status: int, message: str, reason: str) -> None:
    body = json.dumps({"error": message, "reason": reason}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class _Refused(Exception):
    def __init__(self, status: int, message: str, reason: str) -> None:
        super().__init__(message)
        self.status, self.message, self.reason = status, message, reason


class _ClientLeft(Exception):
    """The client went away before sending the whole body: nobody to answer."""


class BodyLimit:
    """413 for a body over ``max_bytes``; 400 for a ``Content-Length`` that is not a number;
    408 for a body that takes longer than ``timeout`` seconds (on ``clock``) to arrive; 503
    for one still arriving when the server stops (``stopping()`` returns then), so that no
    slow client holds the daemon's stop."""

    def __init__(
        self,
        app: ASGIApp,
        max_bytes: int,
        clock: Clock,
        stopping: Callable[[], Awaitable[object]],
        timeout: float | None = None,
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.clock = clock
        self.stopping = stopping
        self.timeout = BODY_TIMEOUT if timeout is None else timeout

    def _too_large(self) -> _Refused:
        return _Refused(
            413,
            f"the request body is larger than the {self.max_bytes} bytes this server accepts",
            "body_too_large",
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        try:
            self._check_length(scope)
            async with self.clock.timeout(self.timeout):
                body = await self._read(receive)
        except _Refused as refused:
            if refused.status == 413:
                await self._drain(receive)
            await _answer(send, refused.status, refused.message, refused.reason)
            return
        except TimeoutError:
            message = f"the request body did not arrive within {self.timeout:g} s"
            await _answer(send, 408, message, "request_timeout")
            return
        except _ClientLeft:
            return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()  # after the body: wait for the disconnect

        await self.app(scope, replay, send)

    async def _drain(self, receive: Receive) -> None:
        """Read and drop what is left of a refused body, up to :data:`DRAIN_BYTES` and
        :data:`DRAIN_SECONDS`: a connection closed with unread bytes is reset by the kernel,
        and the reset can reach the client before the 413 does (it then sees no answer)."""
        dropped = 0
        try:
            async with self.clock.timeout(DRAIN_SECONDS):
                while dropped <= DRAIN_BYTES:
                    message = await receive()
                    if message.get("type") != "http.request":
                        return
                    dropped += len(message.get("body", b""))
                    if not message.get("more_body", False):
                        return
        except TimeoutError:
            return

    def _check_length(self, scope: Scope) -> None:
        declared = [v for k, v in scope.get("headers", ()) if k.lower() == b"content-length"]
        if not declared:
            return
        try:
            length = int(declared[0])
        except ValueError:
            length = -1
        if length < 0:
            raise _Refused(400, "Content-Length is not a number", "bad_request")
        if length > self.max_bytes:
            raise self._too_large()

    async def _read(self, receive: Receive) -> bytes:
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await self._receive_unless_stopping(receive)
            if message["type"] != "http.request":
                raise _ClientLeft
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                raise self._too_large()
            chunks.append(chunk)
            more = bool(message.get("more_body", False))
        return b"".join(chunks)

    async def _receive_unless_stopping(self, receive: Receive) -> Message:
        receiving = asyncio.ensure_future(receive())
        stopping = asyncio.ensure_future(self.stopping())
        try:
            await asyncio.wait({receiving, stopping}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (receiving, stopping):
                if not task.done():
                    task.cancel()
        if not receiving.done() or receiving.cancelled():
            raise _Refused(503, "the server is stopping; try again in a moment", "unavailable")
        return receiving.result()


class SecurityHeaders:
    """The same-origin policy headers on every answer; ``no-store`` on all but static files;
    HSTS when served over TLS."""

    def __init__(self, app: ASGIApp, *, tls: bool) -> None:
        self.app = app
        self.common = [
            (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
            (b"x-content-type-options", b"nosniff"),
            (b"x-frame-options", b"DENY"),
            (b"referrer-policy", b"same-origin"),
        ]
        if tls:
            self.common.append((b"strict-transport-security", b"max-age=31536000"))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        static = scope.get("path", "").startswith("/static/")

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", ()))
                names = {k.lower() for k, _ in headers}
                headers += [(k, v) for k, v in self.common if k not in names]
                if not static and b"cache-control" not in names:
                    headers.append((b"cache-control", b"no-store"))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, with_headers)
