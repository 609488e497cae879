"""``POST /api/alarms/{target}/ack`` served by the console's server on a real loopback port,
with a real engine (real SQLite, FakeClock), the acknowledgement paths' real acknowledger and
real identity: a token acts for its owner's person (attributed, via ``api``), every refusal is
JSON and recorded and changes nothing, a machine's token and a browser session cannot
acknowledge here, bad tokens are throttled (never a valid one), bodies are bounded, and a
store that cannot record answers 503. (Was the aiohttp listener's tests/alarms/ack/
test_http_api.py.)"""

from __future__ import annotations

import gzip
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from alarms.ack.throttle import BURST
from alarms.codes import make_code
from alarms.model import AlarmState
from monitor.app.web.app import create_app
from monitor.app.web.auth import SESSION_COOKIE, csrf_token_for
from monitor.app.web.config import WebConfig
from monitor.app.web.context import WebContext
from monitor.app.web.server import WebServer, listen
from monitor.core.metrics import Metrics
from monitor.identity.model import Actor
from monitor.identity.roles import Role
from monitor.store.base import AuditQuery, StoreError
from monitor.store.writer import StoreWriter
from tests.alarms.conftest import engine_factory  # noqa: F401
from tests.support.ack import Stack, stack_fixture  # noqa: F401
from tests.support.ack_listener import Site, site_fixture  # noqa: F401
from tests.support.alarm_engine import KEY
from tests.support.identity_web import PASSWORD, ConsoleIdentity, add_user, console_identity
from tests.support.paths import REPO
from tests.support.ports import free_port

ADMIN = Actor("tests-admin", "user")
LIMIT = 32 * 1024


@dataclass
class Api:
    stack: Stack
    ids: ConsoleIdentity
    client: httpx.AsyncClient
    url: str
    tokens: dict[str, str]

    def as_(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[who]}"}

    @property
    def ack(self) -> str:
        return f"/api/alarms/{self.stack.code}/ack"

    async def post(self, who: str, body: Any, path: str | None = None) -> tuple[int, Any]:
        answer = await self.client.post(path or self.ack, json=body, headers=self.as_(who))
        return answer.status_code, answer.json()


def token(ids: ConsoleIdentity, role: Role, owner: str | None) -> str:
    return ids.admin.create_token(
        ADMIN if owner is None else Actor(owner, "user"),  # only the owner makes theirs
        f"for {owner}",
        role,
        30,
        "tests",
        owner=owner,
    ).token


@pytest.fixture
async def api(stack: Stack, tmp_path: Path) -> AsyncIterator[Api]:
    clock = stack.clock
    settings = WebConfig(port=free_port(), max_body_bytes=LIMIT)
    ids = console_identity(tmp_path / "identity.db", clock, settings)
    add_user(ids.records, "alice-u", Role.TECHNICIAN, at=clock.now(), person="alice")
    add_user(ids.records, "bob-u", Role.SUPERVISOR, at=clock.now(), person="bob")
    add_user(ids.records, "nobody-u", Role.TECHNICIAN, at=clock.now())
    add_user(ids.records, "tests-admin", Role.ADMIN, at=clock.now())
    tokens = {
        "alice": token(ids, Role.TECHNICIAN, "alice-u"),
        "bob": token(ids, Role.TECHNICIAN, "bob-u"),  # within a supervisor's rights
        "machine": token(ids, Role.VIEWER, None),
        "nobody": token(ids, Role.TECHNICIAN, "nobody-u"),
    }
    context = WebContext(
        settings,
        "test",
        "Test site",
        clock,
        StoreWriter(stack.harness.store, clock, Metrics()),
        identity=ids.service,
        users=ids.admin,
        alarms=stack.harness.engine,
        commands=stack.harness.engine,
        acknowledger=stack.service,
    )
    server = WebServer(create_app(context), listen(settings, REPO), context.streams)
    await server.start()
    url = settings.local_url()
    try:
        async with httpx.AsyncClient(base_url=url) as client:
            yield Api(stack, ids, client, url, tokens)
    finally:
        await server.stop()
        ids.close()


async def test_a_token_acknowledges_for_its_owners_person(api: Api) -> None:
    listed = await api.client.get("/api/alarms", headers=api.as_("alice"))
    assert [a["code"] for a in listed.json()["alarms"]] == [api.stack.code]
    status, body = await api.post("alice", {"comment": "moved the racks"})
    assert status == 200, body
    assert (body["alarm"]["state"], body["alarm"]["acked_by"]) == ("ACKED", "alice")
    assert api.stack.acks() == [("alice", "api", "moved the racks")]  # attributed, not signed
    assert api.stack.refused == []


async def test_refusals_are_json_recorded_and_change_nothing(api: Api) -> None:
    results = [
        await api.post("alice", {"comment": "  "}),
        await api.post("alice", {}),
        await api.post("alice", {"comment": "x"}, f"/api/alarms/{make_code(999)}/ack"),
    ]
    assert [(status, body["reason"]) for status, body in results] == [
        (400, "no_comment"),
        (400, "no_comment"),
        (404, "unknown_alarm"),
    ]
    for bad in ({"person": "bob", "comment": "x"}, {"comment": 5}, ["alice", "x"]):
        status, body = await api.post("alice", bad)
        assert (status, body["reason"]) == (422, "invalid_request"), bad
    status, body = await api.post("alice", {"person": "bob", "comment": "x"})
    assert body["detail"][0]["loc"] == ["body", "person"]  # who acts is the token's, never sent
    sent = await api.client.post(
        api.ack,
        content=b'{"comment": "x"',
        headers={**api.as_("alice"), "content-type": "application/json"},
    )
    assert sent.status_code == 422 and "error" in sent.json()
    assert api.stack.harness.view(KEY).state is AlarmState.UNACK and api.stack.acks() == []
    assert api.stack.reasons() == ["no_comment", "no_comment", "unknown_alarm"]
    assert (await api.post("bob", {"comment": "ok"}))[0] == 200
    status, body = await api.post("alice", {"comment": "again"})
    assert (status, body["reason"]) == (409, "not_acknowledgeable")
    assert api.stack.acks() == [("bob", "api", "ok")]


async def test_only_a_token_acting_for_a_person_acknowledges(api: Api) -> None:
    status, body = await api.post("machine", {"comment": "x"})
    assert (status, body["reason"]) == (403, "forbidden")  # a machine only reads
    assert "viewer" in body["error"]
    status, body = await api.post("nobody", {"comment": "x"})
    assert (status, body["reason"]) == (403, "unknown_person")
    assert "linked to no person" in body["error"]
    anonymous = await api.client.post(api.ack, json={"comment": "x"})
    assert anonymous.status_code == 401
    assert anonymous.headers["WWW-Authenticate"].startswith("Bearer")
    # a browser session of a technician: the e-signature dialog, never an unsigned ack here
    form = await api.client.get("/signin")
    csrf = form.text.split('name="csrf_token" value="')[1].split('"')[0]
    signed_in = await api.client.post(
        "/signin", data={"user_id": "alice-u", "password": PASSWORD, "csrf_token": csrf}
    )
    assert signed_in.status_code == 303, signed_in.text
    session = csrf_token_for(api.client.cookies[SESSION_COOKIE])
    answer = await api.client.post(
        api.ack, json={"comment": "x"}, headers={"X-CSRF-Token": session}
    )
    assert answer.status_code == 403 and "e-signature" in answer.json()["error"]
    api.client.cookies.clear()
    assert api.stack.acks() == [] and api.stack.harness.view(KEY).state is AlarmState.UNACK
    assert api.stack.reasons() == ["unknown_person"]


async def test_a_disabled_or_demoted_owner_stops_the_token(api: Api) -> None:
    admin = api.ids.admin
    admin.set_role(ADMIN, "alice-u", Role.VIEWER, "moved to the office")
    status, body = await api.post("alice", {"comment": "x"})
    assert (status, body["reason"]) == (401, "unauthenticated")
    admin.set_role(ADMIN, "alice-u", Role.TECHNICIAN, "back on the floor")
    admin.disable(ADMIN, "bob-u", "left")
    assert (await api.post("bob", {"comment": "x"}))[0] == 401
    assert (await api.post("alice", {"comment": "back"}))[0] == 200
    assert api.stack.acks() == [("alice", "api", "back")]


async def test_bad_tokens_are_throttled_never_a_valid_one(api: Api) -> None:
    wrong = {"Authorization": "Bearer not-a-token"}
    statuses = []
    retry = None
    for _ in range(BURST + 5):
        answer = await api.client.get("/api/alarms", headers=wrong)
        statuses.append(answer.status_code)
        retry = answer.headers.get("Retry-After")
    assert statuses == [401] * BURST + [429] * 5 and retry == "3"
    assert (await api.client.get("/api/alarms", headers=api.as_("alice"))).status_code == 200
    assert (await api.post("alice", {"comment": "moved"}))[0] == 200  # same source, valid token
    await api.stack.clock.advance(60)
    assert (await api.client.get("/api/alarms", headers=wrong)).status_code == 401  # refilled
    assert api.stack.reasons().count("rate_limited") == 5
    assert api.stack.reasons().count("bad_token") == BURST + 1
    assert api.stack.acks() == [("alice", "api", "moved")]


async def test_a_body_over_the_limit_is_refused_before_it_is_read(api: Api) -> None:
    status, body = await api.post("alice", {"comment": "x" * LIMIT})
    assert (status, body["reason"]) == (413, "body_too_large")
    assert api.stack.acks() == []


async def test_a_store_that_cannot_record_answers_503(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise StoreError("disk full")

    monkeypatch.setattr(api.stack.harness.engine, "acknowledge", broken)
    status, body = await api.post("alice", {"comment": "moved"})
    assert (status, body["reason"]) == (503, "store_error")
    assert "nothing was changed" in body["error"]
    assert api.stack.reasons() == ["store_error"]


async def test_malformed_bodies_are_a_4xx_and_nothing_is_logged_as_an_error(
    api: Api, caplog: pytest.LogCaptureFixture
) -> None:
    """The cases the fault probe found on the old listener (a RecursionError, a TypeError, a
    UnicodeDecodeError) and their kin."""
    caplog.set_level(logging.DEBUG)
    json_type = {**api.as_("alice"), "Content-Type": "application/json"}
    cases: list[tuple[bytes, dict[str, str]]] = [
        (b"[" * 8000 + b"]" * 8000, json_type),
        (b'{"comment": ' * 1100 + b'"x"' + b"}" * 1100, json_type),
        (b'{"comment": "\xff\xfe"}', json_type),  # not UTF-8
        (b'{"comment": 1' + b"0" * 5000 + b"}", json_type),  # an int past Python's limit
        (b'{"comment": "x"}', {**json_type, "Content-Type": "text/plain"}),
        (gzip.compress(b'{"comment": "x"}'), {**json_type, "Content-Encoding": "gzip"}),
        (b"x" * (LIMIT + 1), json_type),
    ]
    for body, headers in cases:
        answer = await api.client.post(api.ack, content=body, headers=headers)
        assert answer.status_code in (400, 413, 422), (body[:40], answer.text[:200])
        assert answer.json()["error"]
    assert (await api.post("alice", {"comment": "moved"}))[0] == 200
    loud = [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]
    assert loud == [], [r.getMessage() for r in loud]
    assert api.stack.acks() == [("alice", "api", "moved")]


async def test_a_token_is_never_logged_nor_stored(
    api: Api, caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    caplog.set_level(logging.DEBUG)
    assert (await api.post("nobody", {"comment": "x"}))[0] == 403
    assert (await api.post("alice", {"comment": "moved"}))[0] == 200
    assert (await api.post("alice", {"comment": "again"}))[0] == 409
    files = [
        file
        for db in (tmp_path / "identity.db", api.stack.harness.store.path)
        for file in db.parent.glob(db.name + "*")  # the database, its WAL and journal
    ]
    assert len(files) >= 2
    for who in api.tokens.values():
        assert who not in caplog.text
        assert not [f for f in files if who.encode() in f.read_bytes()]


async def test_the_daemon_serves_it_and_audits_the_acknowledgement(site: Site) -> None:
    """A real daemon: its console, its acknowledger and its store; Alice's token (a technician
    user linked to her person) acknowledges, and the audit trail says who and how."""
    headers = {"Authorization": f"Bearer {site.api_token}"}
    url = f"http://127.0.0.1:{site.api_port}/api/alarms/{site.code}/ack"
    async with httpx.AsyncClient() as client:
        answer = await client.post(url, json={"comment": "moved to BF-02"}, headers=headers)
    assert answer.status_code == 200, answer.text
    assert answer.json()["alarm"]["acked_by"] == "alice"
    store = site.daemon.store
    [entry] = store.audit_entries(AuditQuery(action="alarm.acknowledged"))
    assert (entry.person, entry.method, entry.reason) == ("alice", "api", "moved to BF-02")
    assert entry.detail is not None and entry.detail["origin"].startswith("127.0.0.1 token tok-")
