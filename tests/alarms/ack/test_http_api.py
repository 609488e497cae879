"""The HTTP API on a real loopback listener with a real client and the real engine: listing,
acknowledging, the JSON refusals (each recorded, none changing anything), the bearer token,
the browser defences (JSON only, loopback Host), and the refusal to bind elsewhere."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import pytest
from pydantic import ValidationError

from alarms.ack.config import AckConfig, HttpApiSettings
from alarms.ack.http_api import HttpApi
from alarms.codes import make_code
from alarms.model import AlarmState
from tests.support.ack import Stack, stack_fixture  # noqa: F401
from tests.support.alarm_engine import KEY

Start = Callable[..., Any]


@pytest.fixture
async def start(stack: Stack) -> AsyncIterator[Start]:
    apis: list[HttpApi] = []
    sessions: list[aiohttp.ClientSession] = []

    async def make(**kwargs: Any) -> tuple[str, aiohttp.ClientSession]:
        api = HttpApi(stack.service, port=0, **kwargs)
        await api.start()
        apis.append(api)
        sessions.append(aiohttp.ClientSession())
        return f"http://127.0.0.1:{api.port}/api/v1/alarms", sessions[-1]

    yield make
    for session in sessions:
        await session.close()
    for api in apis:
        await api.stop()


async def post(
    session: aiohttp.ClientSession, url: str, body: Any, **kwargs: Any
) -> tuple[int, dict[str, Any]]:
    async with session.post(url, json=body, **kwargs) as response:
        return response.status, await response.json()


async def test_list_get_and_acknowledge(stack: Stack, start: Start) -> None:
    base, session = await start()
    code = stack.code
    async with session.get(base) as response:
        assert response.status == 200
        (listed,) = (await response.json())["alarms"]
    assert (listed["code"], listed["state"], listed["key"]) == (code, "UNACK", KEY)
    async with session.get(f"{base}/{code}") as response:
        assert (await response.json())["alarm"]["code"] == code
    status, body = await post(
        session, f"{base}/{code}/ack", {"person": "alice", "comment": "moved"}
    )
    assert status == 200
    assert (body["alarm"]["state"], body["alarm"]["acked_by"]) == ("ACKED", "alice")
    assert stack.acks() == [("alice", "http", "moved")]
    assert stack.refused == []


async def test_refusals_are_json_recorded_and_change_nothing(
    stack: Stack,
    start: Start,
) -> None:
    base, session = await start()
    code = stack.code
    ack = f"{base}/{code}/ack"
    results = [
        await post(session, ack, {"person": "alice", "comment": ""}),
        await post(session, ack, {"person": "alice"}),
        await post(session, ack, {"person": "mallory", "comment": "x"}),
        await post(session, f"{base}/{make_code(999)}/ack", {"person": "alice", "comment": "x"}),
        await post(session, ack, {"comment": "x"}),
        await post(session, ack, ["alice", "x"]),
    ]
    assert [(status, body["reason"]) for status, body in results] == [
        (400, "no_comment"),
        (400, "no_comment"),
        (403, "unknown_person"),
        (404, "unknown_alarm"),
        (400, "bad_request"),
        (400, "bad_request"),
    ]
    assert results[2][1]["error"] == "'mallory' is not a coldwatch person"
    async with session.post(ack, data='{"person": "alice", "comment": "x"}') as response:
        assert response.status == 415  # what a cross-site form can send: refused
    async with session.post(
        ack, json={"person": "alice", "comment": "x"}, headers={"Host": "evil.example:80"}
    ) as response:
        assert response.status == 421  # DNS rebinding: a foreign name for our address
    async with session.get(f"{base}/{make_code(999)}") as response:
        assert response.status == 404 and (await response.json())["reason"] == "unknown_alarm"
    async with session.get(base.replace("/api/v1/alarms", "/twilio/sms")) as response:
        assert response.status == 404 and "error" in await response.json()
    assert stack.harness.view(KEY).state is AlarmState.UNACK and stack.acks() == []
    assert stack.reasons() == [
        "no_comment",
        "no_comment",
        "unknown_person",
        "unknown_alarm",
        "bad_request",
        "bad_request",
        "bad_request",
        "bad_request",
    ]
    assert (await post(session, ack, {"person": "bob", "comment": "ok"}))[0] == 200
    status, body = await post(session, ack, {"person": "alice", "comment": "again"})
    assert (status, body["reason"]) == (409, "not_acknowledgeable")


async def test_a_configured_token_is_required(stack: Stack, start: Start) -> None:
    base, session = await start(token=lambda: "s3cret-token")
    async with session.get(base) as response:
        assert response.status == 401
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
    body = {"person": "alice", "comment": "x"}
    wrong = {"Authorization": "Bearer nope"}
    assert (await post(session, f"{base}/{stack.code}/ack", body, headers=wrong))[0] == 401
    right = {"Authorization": "Bearer s3cret-token"}
    assert (await post(session, f"{base}/{stack.code}/ack", body, headers=right))[0] == 200
    assert stack.reasons() == ["bad_token", "bad_token"]


@pytest.mark.parametrize(
    ("host", "allow_remote", "token", "error"),
    [
        ("0.0.0.0", False, None, "loopback only"),
        ("192.0.2.10", False, lambda: "t", "loopback only"),
        ("coldwatch.example.org", False, None, "loopback only"),
        ("0.0.0.0", True, None, "needs a bearer token"),
    ],
)
def test_binding_beyond_loopback_needs_allow_remote_and_a_token(
    stack: Stack,
    host: str,
    allow_remote: bool,
    token: Any,
    error: str,
) -> None:
    with pytest.raises(ValueError, match=error):
        HttpApi(stack.service, host=host, allow_remote=allow_remote, token=token)
    HttpApi(stack.service, host="::1")
    HttpApi(stack.service, host="0.0.0.0", allow_remote=True, token=lambda: "t")


def test_the_settings_refuse_the_same() -> None:
    with pytest.raises(ValidationError, match="loopback only"):
        HttpApiSettings(enabled=True, host="0.0.0.0")
    with pytest.raises(ValidationError, match="needs a bearer token"):
        HttpApiSettings(enabled=True, host="0.0.0.0", allow_remote=True)
    ok = HttpApiSettings(host="0.0.0.0", allow_remote=True, bearer_token="t")
    assert ok.secret("bearer_token") == "t" and "t'" not in repr(ok)
    assert AckConfig().http_api.enabled is False
