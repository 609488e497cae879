"""Settings of the acknowledgement paths (the ``acknowledgement:`` section) and the mapping of
OS users to people that the control socket trusts.

Defaults are the safe ones: the Twilio listener and the HTTP API bind to loopback (a reverse
proxy terminates TLS in front of the Twilio listener); the HTTP API is off and refuses a
non-loopback address unless ``allow_remote`` and a bearer token are both set.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from alarms.notify.base import NotifierSettings
from alarms.notify.twilio_common import E164, TwilioSettings
from alarms.people import Person
from monitor.core.durations import Duration

SOCKET_NAME = "control.sock"
POLL_STATE_NAME = "twilio-poll.json"
_SUN_PATH_MAX = 107  # sockaddr_un.sun_path holds 108 bytes with the terminating NUL


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a name other than localhost may resolve to anything


def check_bind(host: str, allow_remote: bool, has_token: bool) -> None:
    """Refuse a non-loopback address for the HTTP API without ``allow_remote`` and a token."""
    if allow_remote and not has_token:
        raise ValueError("allow_remote needs a bearer token (bearer_token, _env or _file)")
    if not is_loopback(host) and not allow_remote:
        raise ValueError(
            f"the HTTP API binds to loopback only; '{host}' needs allow_remote: true and a "
            "bearer token (until the web console adds authentication)"
        )


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LockoutSettings(_Strict):
    attempts: int = Field(default=5, ge=1, le=100)
    window: Duration = Field(default=900.0, gt=0)
    duration: Duration = Field(default=900.0, gt=0)


class TwilioInboundSettings(TwilioSettings):
    """Replies by SMS and key presses on calls. ``mode: webhook`` serves Twilio's callbacks
    on its own listener; ``mode: poll`` (no inbound traffic allowed) lists replies instead."""

    mode: Literal["webhook", "poll"] = "webhook"
    host: str = "127.0.0.1"
    port: int = Field(default=8025, ge=0, le=65535)
    numbers: tuple[str, ...] = ()
    """Our Twilio numbers (E.164): polled for replies, and the sender of polled replies."""
    poll_interval: Duration = Field(default=30.0, ge=1.0, le=3600.0)
    poll_lookback: Duration = Field(default=600.0, ge=0.0, le=86400.0)
    """On the first poll (no state yet), replies this far back are still taken."""
    state_file: str | None = None
    """The poller's cursor; default ``twilio-poll.json`` beside the store."""
    voice_comment: str = Field(default="acknowledged by phone", min_length=1, max_length=200)
    voice: str = "Polly.Joanna"
    language: str = "en-US"

    @field_validator("numbers")
    @classmethod
    def _e164(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        bad = [n for n in value if not re.match(E164, n)]
        if bad:
            raise ValueError(f"not in E.164 form: {', '.join(bad)}")
        return value

    @model_validator(mode="after")
    def _mode_needs(self) -> TwilioInboundSettings:
        if self.mode == "webhook" and self.public_base_url is None:
            raise ValueError(
                "mode webhook needs public_base_url: Twilio signs each request with the "
                "public URL it called, and the signature is checked against it"
            )
        if self.mode == "poll" and not self.numbers:
            raise ValueError("mode poll needs numbers: the Twilio numbers whose replies to list")
        return self


class ControlSocketSettings(_Strict):
    enabled: bool = True
    path: str | None = None
    """Default: ``control.sock`` in the store's directory."""
    mode: str = "0660"
    group: str | None = None
    """The group that may connect (e.g. ``coldwatch-ops``); default the daemon's own."""

    @field_validator("mode")
    @classmethod
    def _octal(cls, value: str) -> str:
        try:
            mode = int(value, 8)
        except ValueError:
            raise ValueError("mode is an octal string such as '0660'") from None
        if mode & 0o007:
            raise ValueError("the control socket must not be open to other users (mode ...0)")
        return value

    @property
    def file_mode(self) -> int:
        return int(self.mode, 8)

    def resolved_path(self, store_file: Path) -> Path:
        """The socket's path: configured, or beside the store file."""
        path = Path(self.path).expanduser() if self.path else store_file.parent / SOCKET_NAME
        if len(str(path).encode()) > _SUN_PATH_MAX:
            raise ValueError(f"control socket path is longer than {_SUN_PATH_MAX} bytes: {path}")
        return path


class HttpApiSettings(NotifierSettings):
    secret_fields = ("bearer_token",)

    enabled: bool = False
    host: str = "127.0.0.1"
    port: int = Field(default=8026, ge=0, le=65535)
    allow_remote: bool = False
    bearer_token: SecretStr | None = None
    bearer_token_env: str | None = None
    bearer_token_file: str | None = None

    @model_validator(mode="after")
    def _loopback_unless_allowed(self) -> HttpApiSettings:
        check_bind(self.host, self.allow_remote, self.has_secret("bearer_token"))
        return self


class AckConfig(_Strict):
    """The ``acknowledgement:`` section."""

    twilio: TwilioInboundSettings | None = None
    lockout: LockoutSettings = Field(default_factory=LockoutSettings)
    control_socket: ControlSocketSettings = Field(default_factory=ControlSocketSettings)
    http_api: HttpApiSettings = Field(default_factory=HttpApiSettings)


def os_user_map(people: Iterable[Person]) -> dict[str, str]:
    """OS user name -> person id, from ``people[].os_users``; an OS user may belong to one
    person only. (Reads the attribute if the people model has it; see the wiring notes.)"""
    out: dict[str, str] = {}
    for person in people:
        for user in getattr(person, "os_users", ()) or ():
            owner = out.setdefault(str(user), person.id)
            if owner != person.id:
                raise ValueError(f"OS user '{user}' is listed for both {owner} and {person.id}")
    return out
