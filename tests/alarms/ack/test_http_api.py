"""The HTTP API on a real loopback listener with a real client and the real engine: listing,
acknowledging as the token's person, the JSON refusals (each recorded, none changing
anything), the browser defences (JSON only, loopback Host), and the refusal to bind
elsewhere. (Tokens themselves: test_ack_http_tokens.py.)"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import pytest
from pydantic import ValidationError

from alarms.ack.bearer import TokenSource, TokenTable
from alarms.ack.config import AckConfig, HttpApiSettings
from alarms.ack.http_api import HttpApi
from alarms.codes import make_code
from alarms.model import AlarmState
from tests.support.ack import Stack, stack_fixture  # noqa: F401
from tests.support.alarm_engine import KEY
from tests.support.ports import free_port

Start = Callable[..., Any]
ALICE_TOKEN = "alice-token-0123456789"
BOB_TOKEN = "bob-token-0123456789"
TOKENS = TokenTable(
    [TokenSource("alice", lambda: ALICE_TOKEN), TokenSource("bob", lambda: BOB_TOKEN)]
)
AS_ALICE = {"Authorization": f"Bearer {ALICE_TOKEN}"}
AS_BOB = {"Authorization": f"Bearer {BOB_TOKEN}"}


@pytest.fixture
async def start(stack: Stack) -> AsyncIterator[Start]:
    apis: list[HttpApi] = []
    sessions: list[aiohttp.ClientSession] = []

    async def make(**kwargs: Any) -> tuple[str, aiohttp.ClientSession]:
        headers = kwargs.pop("headers", AS_ALICE)
        api = HttpApi(stack.service, kwargs.pop("tokens", TOKENS), port=free_port(), **kwargs)
        await api.start()
        apis.append(api)
        sessions.append(aiohttp.ClientSession(headers=headers))
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
    status, body = await post(session, f"{base}/{code}/ack", {"comment": "moved"})
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
        await post(session, ack, {"comment": ""}),
        await post(session, ack, {}),
        await post(session, ack, {"person": "alice", "comment": "x"}),
        await post(session, f"{base}/{make_code(999)}/ack", {"comment": "x"}),
        await post(session, ack, {"comment": 5}),
        await post(session, ack, ["alice", "x"]),
    ]
    assert [(status, body["reason"]) for status, body in results] == [
        (400, "no_comment"),
        (400, "no_comment"),
        (400, "bad_request"),
        (404, "unknown_alarm"),
        (400, "bad_request"),
        (400, "bad_request"),
    ]
    assert results[2][1]["error"] == "the person is taken from your token, never from the request"
    async with session.post(ack, data='{"comment": "x"}') as response:
        assert response.status == 415  # what a cross-site form can send: refused
    async with session.post(
        ack, json={"comment": "x"}, headers={"Host": "evil.example:80"}
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
        "bad_request",
        "unknown_alarm",
        "bad_request",
        "bad_request",
        "bad_request",
        "bad_request",
        "bad_request",
    ]
    assert (await post(session, ack, {"comment": "ok"}, headers=AS_BOB))[0] == 200
    status, body = await post(session, ack, {"comment": "again"})
    assert (status, body["reason"]) == (409, "not_acknowledgeable")
    assert stack.acks() == [("bob", "http", "ok")]


async def test_a_valid_token_is_required_on_every_request(stack: Stack, start: Start) -> None:
    base, session = await start(headers={})
    async with session.get(base) as response:
        assert response.status == 401
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
    body = {"comment": "x"}
    wrong = {"Authorization": "Bearer nope"}
    assert (await post(session, f"{base}/{stack.code}/ack", body, headers=wrong))[0] == 401
    assert (await post(session, f"{base}/{stack.code}/ack", body, headers=AS_ALICE))[0] == 200
    assert stack.reasons() == ["bad_token", "bad_token"]


@pytest.mark.parametrize(
    ("host", "allow_remote"),
    [("0.0.0.0", False), ("192.0.2.10", False), ("coldwatch.example.org", False)],
)
def test_binding_beyond_loopback_needs_allow_remote(
    stack: Stack, host: str, allow_remote: bool
) -> None:
    with pytest.raises(ValueError, match="loopback only"):
        HttpApi(stack.service, TOKENS, host=host, allow_remote=allow_remote)
    HttpApi(stack.service, TOKENS, host="::1")
    HttpApi(stack.service, TOKENS, host="0.0.0.0", allow_remote=True)
    with pytest.raises(ValueError, match="off unless tokens are configured"):
        HttpApi(stack.service, TokenTable([]))


def test_the_settings_refuse_the_same() -> None:
    token = [{"person": "alice", "token": ALICE_TOKEN}]
    with pytest.raises(ValidationError, match="loopback only"):
        HttpApiSettings(enabled=True, host="0.0.0.0", tokens=token)
    ok = HttpApiSettings.model_validate(
        {"host": "0.0.0.0", "allow_remote": True, "enabled": True, "tokens": token}
    )
    assert ok.tokens[0].secret("token") == ALICE_TOKEN and ALICE_TOKEN not in repr(ok)
    assert AckConfig().http_api.enabled is False
