"""The HTTP API, on its own listener: list alarms, acknowledge one.

``GET /api/v1/alarms``, ``GET /api/v1/alarms/{id}``, ``POST /api/v1/alarms/{id}/ack`` with
``{"comment": "..."}``. Every request carries ``Authorization: Bearer <token>``, and the token
says who is acting (``acknowledgement.http_api.tokens``: one or more per person); a body that
names a person is refused. Off unless tokens are configured; loopback only unless
``allow_remote``. A POST must be ``application/json`` and the ``Host`` a loopback name (a web
page in a local browser can do neither). Errors are JSON ``{"error", "reason"}``; a source
that keeps failing gets 429 (a valid token is never throttled).
"""

from __future__ import annotations

import json
import logging
from typing import Any

from aiohttp import web

from alarms.ack.acknowledger import Acknowledger
from alarms.ack.bearer import TokenTable
from alarms.ack.config import check_bind, is_loopback
from alarms.ack.forms import once_each
from alarms.ack.listener import HttpListener, error_response
from alarms.ack.refusals import Reason
from alarms.ack.throttle import FailureThrottle
from alarms.model import AlarmCommandError

log = logging.getLogger("alarms.ack")

VIA = "http"
MAX_BODY = 16 * 1024
_LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})
_BODY_KEYS = frozenset({"comment"})

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


class BadBody(ValueError):
    """The body is not ``{"comment": "..."}`` (the message says why)."""


class HttpApi(HttpListener):
    """``tokens``: who may call, one person each (required)."""

    name = "HTTP API"
    via = VIA
    max_body = MAX_BODY

    def __init__(
        self,
        service: Acknowledger,
        tokens: TokenTable,
        *,
        host: str = "127.0.0.1",
        port: int = 8026,
        allow_remote: bool = False,
        throttle: FailureThrottle | None = None,
    ) -> None:
        check_bind(host, allow_remote, "HTTP API")
        super().__init__(service, host, port, throttle)
        self.tokens = tokens
        self.allow_remote = allow_remote

    def routes(self, app: web.Application) -> None:
        app.router.add_get("/api/v1/alarms", self._list)
        app.router.add_get("/api/v1/alarms/{id}", self._get)
        app.router.add_post("/api/v1/alarms/{id}/ack", self._ack)

    def authenticated(self, request: web.Request) -> bool:
        return self.tokens.check(request.headers.get("Authorization")).person is not None

    def _caller(self, request: web.Request) -> str | web.Response:
        """The person the request's token proves, else its refusal: the token first (a
        valid one is never throttled), then the ``Host``."""
        check = self.tokens.check(request.headers.get("Authorization"))
        if check.reason is Reason.UNAVAILABLE:
            return self.refuse(request, Reason.UNAVAILABLE, check.detail, 503, spend=False)
        if check.person is None:
            return self.throttled(request) or self.refuse(
                request,
                Reason.BAD_TOKEN,
                check.detail,
                401,
                headers={"WWW-Authenticate": 'Bearer realm="coldwatch"'},
            )
        if not self.allow_remote:
            name = (request.url.host or "").strip("[]").lower()
            if name not in _LOOPBACK_NAMES and not (name == self.host and is_loopback(name)):
                return self.refuse(
                    request,
                    Reason.BAD_REQUEST,
                    f"Host '{request.host}' is not served here",
                    421,
                    person=check.person,
                    spend=False,
                )
        return check.person

    # --- routes ----------------------------------------------------------------------------------

    async def _list(self, request: web.Request) -> web.Response:
        person = self._caller(request)
        if isinstance(person, web.Response):
            return person
        return web.json_response({"alarms": [v.to_json() for v in self.service.commands.active()]})

    async def _get(self, request: web.Request) -> web.Response:
        person = self._caller(request)
        if isinstance(person, web.Response):
            return person
        try:
            view = self.service.commands.get(request.match_info["id"])
        except AlarmCommandError as exc:
            return error_response(404, str(exc), Reason.UNKNOWN_ALARM.value)
        return web.json_response({"alarm": view.to_json()})

    async def _ack(self, request: web.Request) -> web.Response:
        person = self._caller(request)
        if isinstance(person, web.Response):
            return person
        target = request.match_info["id"]
        if request.content_type != "application/json" or request.charset not in (None, "utf-8"):
            return self.refuse(
                request,
                Reason.BAD_REQUEST,
                "send the request as application/json (UTF-8)",
                415,
                person=person,
                target=target,
                spend=False,
            )
        try:
            comment = read_comment(await request.read())
        except BadBody as exc:
            return self.refuse(
                request,
                Reason.BAD_REQUEST,
                str(exc),
                400,
                person=person,
                target=target,
                spend=False,
            )
        outcome = self.service.acknowledge_as(
            person, target, comment, VIA, request.remote or "unknown"
        )
        if not outcome.ok:
            reason = outcome.reason or Reason.BAD_REQUEST
            return error_response(STATUS.get(reason, 403), outcome.message, reason.value)
        assert outcome.alarm is not None
        return web.json_response({"alarm": outcome.alarm.to_json()})


def read_comment(raw: bytes) -> str:
    """The comment of a ``{"comment": "..."}`` body; :class:`BadBody` for anything else."""
    try:
        data = json.loads(raw.decode("utf-8"), object_pairs_hook=_once_each)
    except (ValueError, RecursionError):  # not UTF-8, not JSON, nested past any sense
        raise BadBody('the body is not JSON: send {"comment": "<text>"}') from None
    if not isinstance(data, dict):
        raise BadBody('send {"comment": "<text>"}')
    if "person" in data:
        raise BadBody("the person is taken from your token, never from the request")
    if not set(data) <= _BODY_KEYS:
        raise BadBody(f"unknown field(s) {', '.join(sorted(set(data) - _BODY_KEYS))[:80]}")
    comment = data.get("comment", "")
    if not isinstance(comment, str):
        raise BadBody('send {"comment": "<text>"}')
    return comment


def _once_each(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    return once_each(pairs, "field")  # a BadForm is a ValueError: "not JSON"
