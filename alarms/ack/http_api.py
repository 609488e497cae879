"""The HTTP API, on its own listener: list alarms, acknowledge one.

``GET /api/v1/alarms``, ``GET /api/v1/alarms/{id}``, ``POST /api/v1/alarms/{id}/ack`` with
``{"person": "...", "comment": "..."}``. Until the web console adds real authentication the
person is *named*, not proven, so the API binds to loopback only; another address needs
``allow_remote: true`` and a bearer token. Even on loopback a browser on the same machine must
not be able to acknowledge for a web page: a POST must be ``application/json`` (a cross-site
form cannot send that without a CORS preflight, which is never answered) and the ``Host`` must
be a loopback name (defeats DNS rebinding). Errors are JSON ``{"error", "reason"}``.
"""

from __future__ import annotations

import hmac
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from alarms.ack.acknowledger import Acknowledger
from alarms.ack.config import check_bind, is_loopback
from alarms.ack.refusals import Reason
from alarms.model import AlarmCommandError

log = logging.getLogger("alarms.ack")

VIA = "http"
MAX_BODY = 16 * 1024
_LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})

STATUS: dict[Reason, int] = {
    Reason.BAD_REQUEST: 400,
    Reason.MALFORMED: 400,
    Reason.NO_COMMENT: 400,
    Reason.BAD_TOKEN: 401,
    Reason.UNKNOWN_PERSON: 403,
    Reason.UNKNOWN_ALARM: 404,
    Reason.NOT_ACKNOWLEDGEABLE: 409,
    Reason.STORE_ERROR: 503,
    Reason.UNAVAILABLE: 503,
}

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
TokenSource = Callable[[], str | None]


def _error(status: int, message: str, reason: str, **headers: str) -> web.Response:
    return web.json_response(
        {"error": message, "reason": reason}, status=status, headers=headers or None
    )


class HttpApi:
    """``await start()`` binds (refusing a non-loopback address unless allowed);
    ``await stop()`` closes. ``token``: returns the bearer token, read at each request."""

    def __init__(
        self,
        service: Acknowledger,
        *,
        host: str = "127.0.0.1",
        port: int = 8026,
        allow_remote: bool = False,
        token: TokenSource | None = None,
    ) -> None:
        check_bind(host, allow_remote, token is not None)
        self.service = service
        self.host = host
        self.port = port
        self.allow_remote = allow_remote
        self.token = token
        self._runner: web.AppRunner | None = None

    def app(self) -> web.Application:
        app = web.Application(client_max_size=MAX_BODY, middlewares=[self._guard])
        app.router.add_get("/api/v1/alarms", self._list)
        app.router.add_get("/api/v1/alarms/{id}", self._get)
        app.router.add_post("/api/v1/alarms/{id}/ack", self._ack)
        return app

    async def start(self) -> None:
        runner = web.AppRunner(self.app(), access_log=None, shutdown_timeout=2.0)
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
        log.info("HTTP API listening on %s:%d", self.host, self.port)

    async def stop(self) -> None:
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    # --- guard: host, token, JSON errors ---------------------------------------------------------

    @web.middleware
    async def _guard(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        who = request.remote or "unknown"
        if not self.allow_remote:
            name = (request.url.host or "").strip("[]").lower()
            if name not in _LOOPBACK_NAMES and not (name == self.host and is_loopback(name)):
                self.service.refuse(
                    VIA, who, Reason.BAD_REQUEST, f"Host '{request.host}' is not served here"
                )
                return _error(421, f"Host '{request.host}' is not served here", "bad_request")
        if self.token is not None:
            refused = self._check_token(request, who)
            if refused is not None:
                return refused
        try:
            return await handler(request)
        except web.HTTPException as exc:
            if exc.status < 400:
                raise
            return _error(exc.status, exc.reason, "bad_request")

    def _check_token(self, request: web.Request, who: str) -> web.Response | None:
        assert self.token is not None
        try:
            expected = self.token()
        except ValueError as exc:
            log.error("HTTP API bearer token unavailable: %s", exc)
            expected = None
        if not expected:
            self.service.refuse(VIA, who, Reason.UNAVAILABLE, "bearer token unavailable")
            return _error(503, "the API's token is not available", "unavailable")
        scheme, _, given = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(
            given.strip().encode(), expected.encode()
        ):
            self.service.refuse(VIA, who, Reason.BAD_TOKEN, "missing or wrong bearer token")
            return _error(
                401,
                "a valid bearer token is required",
                "bad_token",
                **{"WWW-Authenticate": 'Bearer realm="coldwatch"'},
            )
        return None

    # --- routes ----------------------------------------------------------------------------------

    async def _list(self, request: web.Request) -> web.Response:
        return web.json_response({"alarms": [v.to_json() for v in self.service.commands.active()]})

    async def _get(self, request: web.Request) -> web.Response:
        try:
            view = self.service.commands.get(request.match_info["id"])
        except AlarmCommandError as exc:
            return _error(404, str(exc), Reason.UNKNOWN_ALARM.value)
        return web.json_response({"alarm": view.to_json()})

    async def _ack(self, request: web.Request) -> web.Response:
        who = request.remote or "unknown"
        target = request.match_info["id"]
        if request.content_type != "application/json":
            self.service.refuse(
                VIA, who, Reason.BAD_REQUEST, "a POST must be application/json", target=target
            )
            return _error(415, "send the request as application/json", "bad_request")
        body = await _json(request)
        person, comment = (
            body.get("person") if body else None,
            body.get("comment") if body else None,
        )
        if not isinstance(person, str) or not person or not isinstance(comment, str | None):
            self.service.refuse(
                VIA,
                who,
                Reason.BAD_REQUEST,
                'the body is {"person": ..., "comment": ...}',
                target=target,
            )
            return _error(400, 'send {"person": "<id>", "comment": "<text>"}', "bad_request")
        outcome = self.service.acknowledge_as(person, target, comment or "", VIA, who)
        if not outcome.ok:
            reason = outcome.reason or Reason.BAD_REQUEST
            return _error(STATUS.get(reason, 403), outcome.message, reason.value)
        assert outcome.alarm is not None
        return web.json_response({"alarm": outcome.alarm.to_json()})


async def _json(request: web.Request) -> dict[str, Any] | None:
    try:
        data = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None
    return data if isinstance(data, dict) else None
