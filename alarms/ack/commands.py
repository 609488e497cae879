"""What the acknowledgement paths need from the alarm engine, and nothing more.

Every path (SMS, voice, command line, HTTP) writes through one :class:`AlarmCommands`: the
daemon's :class:`~alarms.engine.AlarmEngine`, the only writer of alarm state (its commands are
:class:`~alarms.commands.EngineCommands`). Servers take it as a dependency, so tests can give
them the real engine or a small in-memory fake.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from alarms.model import AlarmView
from monitor.store.base import AlarmRecord

if TYPE_CHECKING:
    from alarms.commands import EngineCommands
    from alarms.engine import AlarmEngine


class AlarmCommands(Protocol):
    """The engine's commands and queries used here.

    ``acknowledge`` and ``get`` raise :class:`~alarms.model.AlarmCommandError` (a message fit
    for a person) for an unknown alarm or a missing comment, and ``acknowledge`` raises
    :class:`~monitor.store.base.StoreError` when it cannot be recorded (nothing changed)."""

    def acknowledge(
        self,
        target: str,
        person: str,
        comment: str,
        via: str | None = None,
        origin: str | None = None,
    ) -> AlarmView: ...

    def active(self) -> list[AlarmView]: ...

    def get(self, target: str) -> AlarmView: ...

    def history(self, target: str) -> list[AlarmRecord]: ...


if TYPE_CHECKING:

    def _the_engine_is_alarm_commands(engine: AlarmEngine) -> AlarmCommands:
        return engine  # mypy checks that the engine satisfies the protocol

    def _the_engine_commands_are_alarm_commands(commands: EngineCommands) -> AlarmCommands:
        return commands  # and that its commands (with their queries) do too
