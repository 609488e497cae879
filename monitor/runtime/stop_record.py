"""Who stopped coldwatch, why and when: kept in the ``daemon_stopped`` event, so that the next
start can say so in the downtime it records (:func:`monitor.runtime.health.record_downtime`).

A stop asked for with ``coldwatch stop|restart --reason`` names the person: the daemon takes
the OS user from the control socket's peer credentials, never from the request. A bare signal
(SIGTERM from ``systemctl stop``, ``kill``, Ctrl-C) says which signal, and that its sender is
unknown.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from monitor.store.base import AuditEntry

Command = Literal["stop", "restart", "signal"]
SENDER_UNKNOWN = "sender unknown"


@dataclass(frozen=True)
class StopRecord:
    """One stop. ``person``: the coldwatch person (``people[].os_users``); ``os_user``: the
    OS account the control socket's peer credentials named; ``signal``: for a bare signal."""

    command: Command
    at: datetime
    person: str | None = None
    os_user: str | None = None
    reason: str | None = None
    signal: str | None = None

    @property
    def planned(self) -> bool:
        """Asked for through the control socket, with a person and a reason."""
        return self.command != "signal"

    @property
    def stopped_by(self) -> str:
        return self.person or SENDER_UNKNOWN

    def describe(self) -> str:
        """``restart asked by alice (OS user alice): new probe on freezer 7`` or
        ``SIGTERM, sender unknown``."""
        if not self.planned:
            return f"{self.signal or 'a signal'}, {SENDER_UNKNOWN}"
        who = self.stopped_by
        if self.os_user and self.os_user != self.person:
            who += f" (OS user {self.os_user})"
        return f"{self.command} asked by {who}: {self.reason or 'no reason given'}"

    def audit_entry(self, pid: int, clock_synchronised: bool | None) -> AuditEntry:
        """This stop on the audit trail: ``daemon.stop``, ``daemon.restart`` (who and why from
        the control socket) or ``daemon.signalled`` (its sender unknown)."""
        action = "daemon.signalled" if self.command == "signal" else f"daemon.{self.command}"
        return AuditEntry(
            at=self.at,
            action=action,
            method="cli" if self.planned else "system",
            person=self.person,
            os_user=self.os_user,
            subject="coldwatch",
            reason=self.reason,
            detail={"stop": self.to_json(), "pid": pid},
            clock_synchronised=clock_synchronised,
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "command": self.command,
            "at": self.at.isoformat(),
            "planned": self.planned,
            "stopped_by": self.stopped_by,
            "person": self.person,
            "os_user": self.os_user,
            "reason": self.reason,
            "signal": self.signal,
        }

    @staticmethod
    def from_json(data: Any) -> StopRecord | None:
        """The record kept in an event's data; None when there is none or it cannot be read
        (a stop recorded by an older version, a damaged row)."""
        if not isinstance(data, dict):
            return None
        command = data.get("command")
        try:
            at = datetime.fromisoformat(str(data.get("at")))
        except ValueError:
            return None
        if command not in ("stop", "restart", "signal"):
            return None

        def text(name: str) -> str | None:
            value = data.get(name)
            return value if isinstance(value, str) and value else None

        return StopRecord(
            command,
            at,
            person=text("person"),
            os_user=text("os_user"),
            reason=text("reason"),
            signal=text("signal"),
        )
