"""Settings of the acknowledgement paths (the ``acknowledgement:`` section) and the mapping of
OS users to people that the control socket trusts.

Defaults are the safe ones: the Twilio listener and the HTTP API bind to loopback (a reverse
proxy terminates TLS in front of the Twilio listener) and refuse another address unless
``allow_remote`` is set; the HTTP API is off, and cannot be turned on without per-person
tokens (the acting person comes from the token, never from the request).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from alarms.notify.base import NotifierSettings
from alarms.notify.twilio_common import E164, TwilioSettings
from alarms.people import Person
from monitor.core.durations import Duration
from monitor.core.secrets import Secret

SOCKET_NAME = "control.sock"
REPLAY_NAME = "twilio-replay.log"
MIN_TOKEN_LENGTH = 16
POLL_STATE_NAME = "twilio-poll.json"
_SUN_PATH_MAX = 107  # sockaddr_un.sun_path holds 108 bytes with the terminating NUL


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a name other than localhost may resolve to anything


def check_bind(host: str, allow_remote: bool, what: str) -> None:
    """Refuse a non-loopback address for a listener unless ``allow_remote`` says so."""
    if not is_loopback(host) and not allow_remote:
        raise ValueError(
            f"the {what} binds to loopback only; '{host}' is not a loopback address and "
            "needs allow_remote: true"
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
    allow_remote: bool = False
    """Needed for a non-loopback ``host`` (normally a reverse proxy on this machine)."""

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
        if self.mode == "webhook":
            check_bind(self.host, self.allow_remote, "Twilio listener")
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


class HttpToken(NotifierSettings):
    """One person's token for the HTTP API: whoever presents it acts as ``person``. The
    token is read at each request (a rotated file is picked up); exactly one of ``token``,
    ``token_env``, ``token_file``."""

    required_secrets = ("token",)

    person: str = Field(min_length=1, max_length=64)
    token: Secret | None = None
    token_env: str | None = None
    token_file: str | None = None

    @model_validator(mode="after")
    def _long_enough(self) -> HttpToken:
        value = self.secret("token")
        if value is not None and len(value) < MIN_TOKEN_LENGTH:
            raise ValueError(
                f"the token of {self.person} is shorter than {MIN_TOKEN_LENGTH} characters "
                "(make one with: openssl rand -hex 32)"
            )
        return self


#: The keys that named the one shared token before tokens were per person.
REPLACED_KEYS = ("bearer_token", "bearer_token_env", "bearer_token_file")


class HttpApiSettings(_Strict):
    enabled: bool = False
    host: str = "127.0.0.1"
    port: int = Field(default=8026, ge=0, le=65535)
    allow_remote: bool = False
    tokens: tuple[HttpToken, ...] = ()
    """One or more per person; required when enabled."""

    @model_validator(mode="before")
    @classmethod
    def _replaced_keys(cls, data: object) -> object:
        old = [k for k in REPLACED_KEYS if isinstance(data, dict) and k in data]
        if old:
            raise ValueError(
                f"{', '.join(old)} was replaced by per-person tokens: "
                "tokens: [{person: <id>, token_file: <path>}] (the acting person comes from "
                "the token, not from the request)"
            )
        return data

    @model_validator(mode="after")
    def _tokens_and_bind(self) -> HttpApiSettings:
        if self.enabled and not self.tokens:
            raise ValueError(
                "the HTTP API is off unless tokens are configured: "
                "tokens: [{person: <id>, token_file: <path>}] (one per person)"
            )
        check_bind(self.host, self.allow_remote, "HTTP API")
        return self


def token_issues(
    api: HttpApiSettings, people: Iterable[str]
) -> list[tuple[tuple[str | int, ...], str]]:
    """What check-config refuses in ``http_api.tokens`` beyond each token's own settings: a
    person not in ``people``, and one token value given to two people (who would it be?)."""
    known = set(people)
    issues: list[tuple[tuple[str | int, ...], str]] = []
    owners: dict[str, str] = {}
    for i, entry in enumerate(api.tokens):
        path: tuple[str | int, ...] = ("acknowledgement", "http_api", "tokens", i)
        if entry.person not in known:
            issues.append(((*path, "person"), f"'{entry.person}' is not in people"))
        try:
            value = entry.secret("token")
        except ValueError:
            continue  # reported by the token's own validation
        owner = owners.setdefault(value, entry.person) if value else entry.person
        if owner != entry.person:
            issues.append((path, f"the same token is given to {owner} and {entry.person}"))
    return issues


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
