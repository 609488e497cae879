"""Settings of the acknowledgement paths (the ``acknowledgement:`` section) and the mapping of
OS users to people that the control socket trusts.

Defaults are the safe ones: the Twilio listener binds to loopback (a reverse proxy terminates
TLS in front of it) and refuses another address unless ``allow_remote`` is set. The alarm
HTTP API that had its own listener here is on the web console now (API tokens that act for a
person); its old section is refused with how to move.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from alarms.notify.twilio_common import E164, TwilioSettings
from alarms.people import Person
from monitor.core.durations import Duration

SOCKET_NAME = "control.sock"
REPLAY_NAME = "twilio-replay.log"
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


#: Where the alarm HTTP API went, for the refusal of its old section.
HTTP_API_MOVED = (
    "the alarm HTTP API moved onto the web console (docs/acknowledgement.md, 'HTTP API'): "
    "enable web:, then for each person in tokens: give them a user linked to their person "
    "(coldwatch user add ... --person PERSON_ID) and their client an API token that acts for "
    "it (coldwatch user token-add NAME --for USER_ID --role technician --reason TEXT), point "
    "the client at POST <web>/api/alarms/<id>/ack, and remove acknowledgement.http_api"
)


def refuse_http_api(value: object) -> None:
    """``acknowledgement.http_api`` is no longer read. A section that was on is refused, so
    that a site that relied on it learns at ``check-config`` (exit 2, this file and line) how
    to move, instead of a daemon that starts without the API it expects. A section that was
    off (``enabled: false``, as the example configuration had it) served nothing and is
    ignored: an upgrade must not stop the monitoring for it. Nothing of the value is repeated
    (it may hold a token)."""
    if isinstance(value, dict) and value.get("enabled") is True:
        raise ValueError(HTTP_API_MOVED)


class AckConfig(_Strict):
    """The ``acknowledgement:`` section."""

    twilio: TwilioInboundSettings | None = None
    lockout: LockoutSettings = Field(default_factory=LockoutSettings)
    control_socket: ControlSocketSettings = Field(default_factory=ControlSocketSettings)
    http_api: None = Field(default=None, exclude=True)
    """Moved onto the web console: refused with how to move while on, ignored while off
    (:func:`refuse_http_api`)."""

    @field_validator("http_api", mode="before")
    @classmethod
    def _http_api_moved(cls, value: object) -> None:
        refuse_http_api(value)
        return


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
