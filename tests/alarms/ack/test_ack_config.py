"""The ``acknowledgement:`` settings: safe defaults, what each mode needs, the socket's mode
and path, and the OS-user mapping."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from alarms.ack.config import (
    AckConfig,
    ControlSocketSettings,
    TwilioInboundSettings,
    is_loopback,
    os_user_map,
)
from alarms.people import Person
from monitor.app.cli import main as cli_main
from monitor.app.config import ConfigError, load
from tests.support.ack import ACCOUNT
from tests.support.fakes import write_config

TWILIO: dict[str, Any] = {"account_sid": ACCOUNT, "auth_token_env": "TWILIO_TOKEN_FOR_TEST"}


def test_twilio_modes_need_their_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TWILIO_TOKEN_FOR_TEST", "tok")
    with pytest.raises(ValidationError, match="needs public_base_url"):
        TwilioInboundSettings(**TWILIO)
    with pytest.raises(ValidationError, match="needs numbers"):
        TwilioInboundSettings(**TWILIO, mode="poll")
    with pytest.raises(ValidationError, match=r"E\.164"):
        TwilioInboundSettings(**TWILIO, mode="poll", numbers=("0151 123",))
    hook = TwilioInboundSettings(**TWILIO, public_base_url="https://cw.example.org/")
    assert (hook.host, hook.port, hook.public_base_url) == (
        "127.0.0.1",
        8025,
        "https://cw.example.org",
    )
    assert hook.required_secret("auth_token") == "tok"
    cfg = AckConfig.model_validate(
        {"twilio": {**TWILIO, "mode": "poll", "numbers": ["+15005550006"], "poll_interval": "1m"}}
    )
    assert cfg.twilio is not None and cfg.twilio.poll_interval == 60
    assert cfg.lockout.attempts == 5 and cfg.lockout.window == cfg.lockout.duration == 900


def test_the_control_socket_mode_and_path(tmp_path: Path) -> None:
    default = ControlSocketSettings()
    assert default.file_mode == 0o660
    assert default.resolved_path(tmp_path / "cw.db") == tmp_path / "control.sock"
    with pytest.raises(ValidationError, match="other users"):
        ControlSocketSettings(mode="0666")
    with pytest.raises(ValidationError, match="octal"):
        ControlSocketSettings(mode="rw-rw----")
    with pytest.raises(ValueError, match="longer than 107"):
        ControlSocketSettings(path="/" + "x" * 120).resolved_path(tmp_path / "cw.db")


def test_loopback_names() -> None:
    assert all(is_loopback(h) for h in ("127.0.0.1", "127.1.2.3", "::1", "[::1]", "localhost"))
    assert not any(is_loopback(h) for h in ("0.0.0.0", "::", "10.0.0.1", "example.org"))


class WithOsUsers(Person):
    """What ``people[].os_users`` adds to Person (the lead's wiring)."""

    os_users: tuple[str, ...] = ()


def test_os_users_map_to_one_person_each() -> None:
    ana = WithOsUsers(id="ana", name="Ana", channels=("sms",), os_users=("ana", "amueller"))
    ben = WithOsUsers(id="ben", name="Ben", channels=("sms",), os_users=("ben",))
    plain = Person(id="cy", name="Cy", channels=("sms",))
    assert os_user_map([ana, ben, plain]) == {"ana": "ana", "amueller": "ana", "ben": "ben"}
    thief = WithOsUsers(id="eve", name="Eve", channels=("sms",), os_users=("ana",))
    with pytest.raises(ValueError, match="both ana and eve"):
        os_user_map([ana, thief])


SECRET = "alice-api-token-0123456789abcdef"


def old_site(tmp_path: Path, http_api: Any) -> Path:
    return write_config(
        tmp_path,
        {
            "site": {"id": "t", "name": "T"},
            "notifiers": {"sms": {"type": "outbox"}},
            "people": [{"id": "alice", "name": "Alice", "channels": ["sms"]}],
            "acknowledgement": {"http_api": http_api},
        },
    )


def test_the_old_http_api_section_is_refused_with_how_to_move(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A site that relied on the old listener learns at check-config (exit 2, file and line)
    what to run, never a daemon that starts without its API; the token is not repeated."""
    path = old_site(
        tmp_path, {"enabled": True, "port": 8026, "tokens": [{"person": "alice", "token": SECRET}]}
    )
    with pytest.raises(ConfigError) as err:
        load(path)
    [issue] = err.value.issues
    assert issue.path == "acknowledgement.http_api" and issue.line is not None
    assert "coldwatch user token-add NAME --for USER_ID --role technician" in issue.message
    assert "/api/alarms/<id>/ack" in issue.message
    assert cli_main(["check-config", "-c", str(path)]) == 2
    out = capsys.readouterr()
    assert f"{path}:{issue.line}" in out.err + out.out
    assert SECRET not in out.err + out.out + str(err.value)


@pytest.mark.parametrize(
    "http_api",
    [
        {"enabled": False},
        {},
        None,
        {"enabled": False, "tokens": [{"person": "a", "token": SECRET}]},
    ],
)
def test_an_old_http_api_section_that_was_off_is_ignored(tmp_path: Path, http_api: Any) -> None:
    """It served nothing before (the example configuration had ``enabled: false``): an
    upgrade must not stop the monitoring for it, nor keep what it holds."""
    loaded = load(old_site(tmp_path, http_api))
    assert "http_api" not in loaded.config.model_dump()["acknowledgement"]
    assert SECRET not in str(loaded.config.model_dump())
    assert "http_api" not in AckConfig().model_dump()
