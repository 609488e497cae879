"""The acknowledgement paths' aiohttp listener (the Twilio webhook's; the alarm API is on the
web console now): binding, a bounded request, refusals that are counted and throttled, and
answers that are always a 4xx with a short reason for whatever a client sends.

Nothing a client sends becomes a 500 or a traceback in the log: aiohttp's own answers to a
malformed request (a bad request line, an oversized header, a broken chunked body) are
recorded as refusals instead of logged as errors; an error raised while reading the request
becomes a 4xx; bodies are never decompressed (no compression bombs) and limited in size.
An unexpected exception in coldwatch's own code is still logged loudly (a bug).
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

from alarms.ack.acknowledger import Acknowledger
from alarms.ack.refusals import Reason
from alarms.ack.throttle import FailureThrottle

log = logging.getLogger("alarms.ack")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
OnMalformed = Callable[[str, str], None]

#: aiohttp's limits on the request line and headers (its defaults, said here)
MAX_LINE = 8190
MAX_HEADERS = 64
KEEPALIVE = 75.0


class _ServerLog(logging.Logger):
    """aiohttp's server logger for one listener: a request too malformed for aiohttp to hand
    on (it answers 400 itself) is a refusal, not an error with a traceback."""

    def __init__(self, on_malformed: OnMalformed) -> None:
        super().__init__("alarms.ack.http")
        self.parent = log
        self._on_malformed = on_malformed

    def _malformed(self, args: tuple[object, ...], exc_info: object) -> bool:
        exc = exc_info if isinstance(exc_info, BaseException) else sys.exc_info()[1]
        if not isinstance(exc, HttpProcessingError):
            return False
        self._on_malformed(str(args[0]) if args else "unknown", exc.message or type(exc).__name__)
        return True

    def exception(self, msg: object, *args: object, **kwargs: Any) -> None:
        if not self._malformed(args, kwargs.get("exc_info", True)):
            super().exception(msg, *args, **kwargs)

    def debug(self, msg: object, *args: object, **kwargs: Any) -> None:
        if not self._malformed(args, kwargs.get("exc_info")):
            super().debug(msg, *args, **kwargs)


def error_response(status: int, message: str, reason: str, **headers: str) -> web.Response:
    """``{"error": ..., "reason": ...}`` with ``status``."""
    return web.json_response(
        {"error": message, "reason": reason}, status=status, headers=headers or None
    )


class HttpListener:
    """``await start()`` binds ``host:port`` (the bound port is then ``port``);
    ``await stop()`` closes. Subclasses add their routes in :meth:`routes`."""

    name = "listener"
    via = "http"
    max_body = 16 * 1024

    def __init__(
        self, service: Acknowledger, host: str, port: int, throttle: FailureThrottle | None
    ) -> None:
        self.service = service
        self.host = host
        self.port = port
        self.throttle = throttle or FailureThrottle(service.clock)
        self._runner: web.AppRunner | None = None

    def routes(self, app: web.Application) -> None:
        raise NotImplementedError

    def middlewares(self) -> list[Any]:
        """Further middlewares, inside the one that turns errors into refusals."""
        return []

    def app(self) -> web.Application:
        app = web.Application(
            client_max_size=self.max_body, middlewares=[self._errors, *self.middlewares()]
        )
        self.routes(app)
        return app

    async def start(self) -> None:
        runner = web.AppRunner(
            self.app(),
            access_log=None,
            shutdown_timeout=2.0,
            logger=_ServerLog(self._malformed_http),
            auto_decompress=False,
            keepalive_timeout=KEEPALIVE,
            max_line_size=MAX_LINE,
            max_field_size=MAX_LINE,
            max_headers=MAX_HEADERS,
        )
        await runner.setup()
        try:
            await web.TCPSite(runner, self.host, self.port).start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        for address in runner.addresses:
            if isinstance(address, tuple) and len(address) >= 2:
                self.port = int(address[1])
                break
        log.info("%s listening on %s:%d", self.name, self.host, self.port)

    async def stop(self) -> None:
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    # --- refusals -----------------------------------------------------------------------------

    def throttled(self, request: web.Request, via: str | None = None) -> web.Response | None:
        """429 for a source over its failure budget (recorded, and spent again), else None.
        Never call it for an authenticated request."""
        source = source_of(request)
        wait = self.throttle.retry_after(source)
        if not wait:
            return None
        return self.refuse(
            request,
            Reason.RATE_LIMITED,
            f"too many refused requests from {source}; try again in {wait} s",
            429,
            via=via,
            headers={"Retry-After": str(wait)},
        )

    def refuse(
        self,
        request: web.Request,
        reason: Reason,
        detail: str,
        status: int,
        *,
        via: str | None = None,
        person: str | None = None,
        target: str | None = None,
        spend: bool = True,
        headers: Mapping[str, str] | None = None,
    ) -> web.Response:
        """Record the refusal, spend from the source's budget (not for an authenticated
        request, nor for a fault of ours), and answer ``status`` with the short reason."""
        source = source_of(request)
        if spend:
            self.throttle.failed(source)
        self.service.refuse(via or self.via, source, reason, detail, person, target)
        return error_response(status, detail, reason.value, **dict(headers or {}))

    def authenticated(self, request: web.Request) -> bool:
        """Whether the request proves who sent it (then it is never throttled): a listener
        whose proof is in the headers says so here, for errors raised before its handler."""
        return False

    def _malformed_http(self, remote: str, what: str) -> None:
        self.throttle.failed(remote)
        self.service.refuse(self.via, remote, Reason.BAD_REQUEST, f"malformed HTTP: {what}")

    @web.middleware
    async def _errors(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            return await handler(request)
        except web.HTTPException as exc:
            if exc.status < 400:
                raise
            if self.authenticated(request):  # a wrong path or method, a body too large
                return self.refuse(request, Reason.BAD_REQUEST, exc.reason, exc.status, spend=False)
            return self.throttled(request) or self.refuse(
                request, Reason.BAD_REQUEST, exc.reason, exc.status
            )
        except HttpProcessingError as exc:  # a body that broke off or lied about its size
            return self.throttled(request) or self.refuse(
                request, Reason.BAD_REQUEST, f"malformed request body: {exc.message}", 400
            )


def source_of(request: web.Request) -> str:
    """Where a request came from as the socket says (behind a reverse proxy: the proxy)."""
    return request.remote or "unknown"
