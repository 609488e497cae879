"""What every protocol front end is: started and stopped, described, and readable by coldwatch.

A front end speaks one protocol over one device's model. Besides serving, it says how the
real coldwatch driver reads it (:meth:`FrontEnd.coldwatch`): the device entry and channel
entries of a coldwatch configuration, so that the demo and ``coldwatch sim
--coldwatch-config`` can write a configuration that matches the running simulators.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from monitor.core.clock import Clock
from simulators.bindings import Role
from simulators.device import SimDevice


@dataclass(frozen=True)
class Environment:
    """What the simulation lends its front ends."""

    clock: Clock
    host: str = "127.0.0.1"
    run_dir: Path = Path()
    """Relative pty links are made here (the folder of the simulator's configuration)."""
    broker_host: str = "127.0.0.1"
    broker_port: int = 1883


@dataclass
class Reader:
    """How coldwatch reads a front end: a ``devices`` entry and the equipment's channels."""

    device: dict[str, Any]
    channels: list[dict[str, Any]] = field(default_factory=list)


def channel(
    channel_id: str, quantity: str, unit: str, source: dict[str, Any], **extra: Any
) -> dict[str, Any]:
    return {"id": channel_id, "quantity": quantity, "unit": unit, **extra, "source": source}


def poll_timing(interval: float) -> tuple[float, float]:
    """(poll timeout, per-request timeout) for a poll interval: both well inside it."""
    timeout = round(interval * 0.8, 3)
    return timeout, round(min(0.5, timeout * 0.4), 3)


class FrontEnd(ABC):
    type: ClassVar[str]

    def __init__(self, device: SimDevice, env: Environment) -> None:
        self.device = device
        self.env = env

    @classmethod
    @abstractmethod
    def roles(cls, settings: Any) -> tuple[Role, ...]:
        """The fields this front end shows, for ``bind:`` (empty: it shows every output)."""

    @abstractmethod
    async def start(self) -> None:
        """Open the endpoint (ports given as 0 are chosen now)."""

    @abstractmethod
    async def stop(self) -> None: ...

    @abstractmethod
    def describe(self) -> str:
        """One line for people: protocol, where, what it resembles."""

    @abstractmethod
    def coldwatch(self, interval: float) -> Reader:
        """The coldwatch configuration that reads this front end (polled at ``interval``)."""
