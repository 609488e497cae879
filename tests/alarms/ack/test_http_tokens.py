"""Per-person tokens for the HTTP API (``acknowledgement.http_api.tokens``), from the
configuration to a real listener on loopback with the real engine: the acting person comes
from the token and never from the request; every request needs one; token files are read at
each request (rotation); a token that proves two people or cannot be read proves nobody;
check-config refuses what would leave the API open or ambiguous; tokens are never stored in
the effective configuration nor logged."""

from __future__ import annotations

import logging
import shutil
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from alarms.ack.config import AckConfig
from alarms.ack.services import AckServices
from alarms.model import AlarmState
from alarms.people import Directory
from monitor.app.config import ConfigError, load
from tests.support.ack import Stack, people, stack_fixture  # noqa: F401
from tests.support.alarm_engine import KEY
from tests.support.fakes import write_config

ALICE = "alice-api-token-0123456789abcdef"
BOB = "bob-api-token-0123456789abcdef00"


@dataclass
class Api:
    stack: Stack
    services: AckServices
    session: aiohttp.ClientSession
    files: dict[str, Path]

    @property
    def base(self) -> str:
        assert self.services.http is not None
        return f"http://127.0.0.1:{self.services.http.port}/api/v1/alarms"

    async def ack(self, token: str | None, body: Any) -> tuple[int, dict[str, Any]]:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        url = f"{self.base}/{self.stack.code}/ack"
        async with self.session.post(url, json=body, headers=headers) as response:
            return response.status, await response.json()

    async def get(self, token: str | None) -> int:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        async with self.session.get(self.base, headers=headers) as response:
            return response.status


@pytest.fixture
async def api(stack: Stack) -> AsyncIterator[Api]:
    folder = Path(tempfile.mkdtemp(prefix="cw-"))
    files = {"alice": folder / "api-alice", "bob": folder / "api-bob"}
    files["alice"].write_text(ALICE + "\n")
    files["bob"].write_text(BOB)
    config = AckConfig.model_validate(
        {
            "control_socket": {"enabled": False},
            "http_api": {
                "enabled": True,
                "port": 0,
                "tokens": [
                    {"person": name, "token_file": str(path)} for name, path in files.items()
                ],
            },
        }
    )
    services = AckServices(
        config,
        stack.harness.engine,
        Directory(people()),
        stack.clock,
        folder / "cw.db",
        on_refused=stack.refused.append,
    )
    await services.start()
    session = aiohttp.ClientSession()
    try:
        yield Api(stack, services, session, files)
    finally:
        await session.close()
        await services.stop()
        shutil.rmtree(folder, ignore_errors=True)


async def test_the_acting_person_comes_from_the_token(api: Api) -> None:
    status, body = await api.ack(BOB, {"person": "alice", "comment": "moved"})
    assert (status, body["reason"]) == (400, "bad_request")
    assert body["error"] == "the person is taken from your token, never from the request"
    assert api.stack.harness.view(KEY).state is AlarmState.UNACK
    status, body = await api.ack(BOB, {"comment": "moved to BF-02"})
    assert status == 200 and body["alarm"]["acked_by"] == "bob"
    assert api.stack.acks() == [("bob", "http", "moved to BF-02")]
    (refused,) = api.stack.refused
    assert (refused.reason.value, refused.person, refused.who) == (
        "bad_request",
        "bob",
        "127.0.0.1",
    )


async def test_every_request_needs_a_valid_token_reads_too(api: Api) -> None:
    assert await api.get(None) == 401
    assert await api.get("Basic " + ALICE) == 401
    assert await api.get(ALICE[:-1]) == 401
    assert await api.get(ALICE) == 200
    assert (await api.ack(None, {"comment": "x"}))[0] == 401
    assert api.stack.reasons() == ["bad_token"] * 4
    assert api.stack.harness.view(KEY).state is AlarmState.UNACK


async def test_a_rotated_token_file_is_picked_up_at_the_next_request(api: Api) -> None:
    assert await api.get(ALICE) == 200
    rotated = "alice-rotated-token-0123456789ab"
    api.files["alice"].write_text(rotated)
    assert await api.get(ALICE) == 401
    assert await api.get(rotated) == 200


async def test_a_token_that_proves_two_people_or_cannot_be_read_proves_nobody(
    api: Api, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    api.files["bob"].write_text(ALICE)  # a careless rotation: both files hold one token
    status, body = await api.ack(ALICE, {"comment": "moved"})
    assert (status, body["reason"]) == (503, "unavailable")
    assert "several people" in body["error"]
    assert api.stack.acks() == []
    api.files["bob"].unlink()  # bob's token cannot be read: alice's still works
    assert await api.get(BOB) == 401
    assert await api.get(ALICE) == 200
    logged = caplog.text
    assert "one HTTP API token is configured for alice, bob" in logged
    assert "the HTTP API token of bob cannot be used" in logged
    assert ALICE not in logged and BOB not in logged


def site(tmp_path: Path, http_api: dict[str, Any]) -> Path:
    return write_config(
        tmp_path,
        {
            "site": {"id": "t", "name": "T"},
            "notifiers": {"sms": {"type": "outbox"}},
            "people": [{"id": "alice", "name": "Alice", "channels": ["sms"]}],
            "acknowledgement": {"http_api": http_api},
        },
    )


@pytest.mark.parametrize(
    ("http_api", "message"),
    [
        ({"enabled": True}, "the HTTP API is off unless tokens are configured"),
        ({"enabled": True, "tokens": []}, "the HTTP API is off unless tokens are configured"),
        (
            {"enabled": True, "tokens": [{"person": "alice", "token": "short"}]},
            "the token of alice is shorter than 16 characters",
        ),
        (
            {"enabled": True, "tokens": [{"person": "alice"}]},
            "set one of token, token_env or token_file",
        ),
        (
            {"enabled": True, "tokens": [{"person": "alice", "token": ALICE, "token_env": "X"}]},
            "set only one of token, token_env",
        ),
        (
            {"enabled": True, "bearer_token": ALICE},
            "bearer_token was replaced by per-person tokens",
        ),
        (
            {"enabled": True, "host": "0.0.0.0", "tokens": [{"person": "alice", "token": ALICE}]},
            "'0.0.0.0' is not a loopback address and needs allow_remote: true",
        ),
    ],
)
def test_check_config_refuses(tmp_path: Path, http_api: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as err:
        load(site(tmp_path, http_api))
    assert message in str(err.value)
    assert ALICE not in str(err.value)


def test_tokens_are_not_in_the_stored_configuration(tmp_path: Path) -> None:
    token_file = tmp_path / "api-alice"
    token_file.write_text(BOB)
    loaded = load(
        site(
            tmp_path,
            {
                "enabled": True,
                "tokens": [
                    {"person": "alice", "token": ALICE},
                    {"person": "alice", "token_file": str(token_file)},
                ],
            },
        )
    )
    stored = loaded.effective_json
    assert ALICE not in stored and BOB not in stored
    assert '"enabled":true' in stored
