"""What the control socket hands the daemon, and what the daemon answers with: who asked
(from the kernel's peer credentials, never from the request) and why, for ``coldwatch
stop|restart|reload`` and the commands served beside the alarm ones (``coldwatch user``)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class StopRequest:
    """``coldwatch stop|restart --reason TEXT``: who asked (from the kernel) and why."""

    restart: bool
    reason: str
    person: str | None
    """None only for root mapped to no person."""
    os_user: str


#: The daemon's side of a stop request: None when it stops, else why it will not.
OnStop = Callable[[StopRequest], str | None]


@dataclass(frozen=True, slots=True)
class ReloadRequest:
    """``coldwatch reload --reason TEXT``: who asked (from the kernel) and why."""

    reason: str
    person: str
    os_user: str


#: The daemon's side of a reload: what it took (JSON-ready), else why it did not (a str).
OnReload = Callable[[ReloadRequest], dict[str, Any] | str]


@dataclass(frozen=True, slots=True)
class Caller:
    """Who sent a request, as the kernel says: the OS user (None if the uid has no name) and
    the person ``people[].os_users`` maps it to (None if none)."""

    uid: int
    os_user: str | None
    person: str | None


#: Whether ``caller`` may ``stop``, ``restart`` or ``reload`` (the command), asked with
#: ``reason``: None when allowed, else why not (the daemon records the refusal).
Authorise = Callable[[str, Caller, str], str | None]


#: A command served beside the alarm ones: (caller, request) -> the answer (``ok`` true or
#: false with ``error`` and ``reason``).
ExtraCommand = Callable[[Caller, dict[str, Any]], Awaitable[dict[str, Any]]]
