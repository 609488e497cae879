"""The serial drivers: query/response (polled) and push (streaming), under one name.

The coordinator tells polled from streaming drivers by the instance, so ``SerialDriver``
builds the class its ``mode`` calls for: ``SerialDriver(...)`` with ``mode: query`` is a
:class:`SerialQueryDriver` (a :class:`~drivers.base.PolledDriver`), with ``mode: push`` a
:class:`SerialPushDriver` (a :class:`~drivers.base.StreamingDriver`). Both share one
settings model, one point model and the port handling.

Failure is graded, so that one bad answer never hides the rest of a dewar:

* query mode: a command without an answer in ``response_timeout``, an answer the pattern does
  not match, or one an error pattern matches gives ``comm_error`` for the channels of that
  command only; a fault pattern gives ``sensor_fault``. Silence before the device has
  answered anything in this poll, a port that cannot be opened and a lost port raise
  :class:`DriverError`: every channel goes bad and the coordinator retries with backoff.
* push mode: each frame goes to every channel whose pattern matches it and to every event
  rule that matches it; a frame nothing matches is counted and logged (rate-limited). A lost
  port raises DriverError; silence is the coordinator's business (its silence timer).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import ClassVar

from drivers.base import (
    Driver,
    DriverContext,
    DriverError,
    Point,
    PolledDriver,
    ReadingSink,
    StreamingDriver,
)
from drivers.serial.config import SerialPoint, SerialSettings
from drivers.serial.escapes import to_bytes
from drivers.serial.patterns import ChannelParser, EventMatcher, Outcome, show
from drivers.serial.port import Port, join
from monitor.core.logs import RateLimiter
from monitor.core.model import Quality, Reading


class SerialDriver(Driver[SerialSettings, SerialPoint]):
    """The ``serial`` registry entry; instances are of the subclass the mode calls for."""

    name: ClassVar[str] = "serial"
    settings_model: ClassVar[type[SerialSettings]] = SerialSettings
    point_model: ClassVar[type[SerialPoint]] = SerialPoint

    def __new__(
        cls,
        device_id: str,
        settings: SerialSettings,
        points: Sequence[Point[SerialPoint]],
        context: DriverContext,
    ) -> SerialDriver:
        target: type[SerialDriver] = cls
        if cls is SerialDriver:
            target = SerialPushDriver if settings.mode == "push" else SerialQueryDriver
        return object.__new__(target)

    def __init__(
        self,
        device_id: str,
        settings: SerialSettings,
        points: Sequence[Point[SerialPoint]],
        context: DriverContext,
    ) -> None:
        super().__init__(device_id, settings, points, context)
        problems = self.check(settings, self.points)
        if problems:
            raise ValueError(f"device {device_id}: {'; '.join(problems)}")
        self.parsers = {p.channel: ChannelParser(p.settings) for p in self.points}
        self.port: Port | None = None
        self._limiter = RateLimiter(60.0)

    @classmethod
    def check_timing(cls, settings: SerialSettings, timeout: float, interval: float) -> list[str]:
        if settings.mode == "query" and timeout <= settings.response_timeout:
            return [
                f"poll timeout {timeout:g} s must be longer than settings.response_timeout "
                f"{settings.response_timeout:g} s"
            ]
        return []

    @classmethod
    def check(cls, settings: SerialSettings, points: Sequence[Point[SerialPoint]]) -> list[str]:
        messages = []
        for point in points:
            p = point.settings
            if settings.mode == "query" and p.command is None:
                messages.append(f"channel '{point.channel}': mode query needs a 'command' to send")
            if settings.mode == "push":
                if p.command is not None:
                    messages.append(
                        f"channel '{point.channel}': mode push sends no commands; remove 'command'"
                    )
                if p.pattern is None:
                    messages.append(
                        f"channel '{point.channel}': mode push needs a 'pattern' saying which "
                        "frames carry this channel, with its value as (?P<value>...)"
                    )
        return messages

    # --- lifecycle ------------------------------------------------------------------------

    async def connect(self) -> None:
        """Open the port (shared or own); a no-op if it is open."""
        port = join(self.device_id, self.settings, self.context)
        if self.port is not None and self.port is not port:
            await self.close()  # the path now leads to another device node (re-plugged)
        self.port = port
        try:
            async with port.lock:
                await port.open(self.settings)
        except BaseException:
            await self.close()
            raise

    async def close(self) -> None:
        """Leave the port; the last device to leave closes it. Safe at any time."""
        port, self.port = self.port, None
        if port is None:
            return
        port.users.pop(self.device_id, None)
        if not port.users:
            await port.drop()

    def _open_port(self) -> Port:
        port = self.port
        if port is None:
            raise DriverError(f"{self.settings.port}: not connected")
        if not port.connected:
            raise DriverError(f"{port.where}: {port.lost_reason}")
        return port

    def _reading(self, channel: str, outcome: Outcome, ts: datetime, prefix: str = "") -> Reading:
        if outcome.quality is Quality.GOOD and outcome.value is not None:
            return Reading.good(channel, ts, outcome.value)
        return Reading.bad(channel, ts, outcome.quality, f"{prefix}{outcome.detail}")

    def _warn(self, key: str, msg: str, *args: object) -> None:
        allowed, held = self._limiter.allow(key)
        if allowed:
            self.context.log.warning(msg + " (%d similar held back)", *args, held)


@dataclass(frozen=True, slots=True)
class _Silence:
    detail: str


class SerialQueryDriver(SerialDriver, PolledDriver[SerialSettings, SerialPoint]):
    """Sends each distinct command once per poll and parses its answer for its channels."""

    def __init__(
        self,
        device_id: str,
        settings: SerialSettings,
        points: Sequence[Point[SerialPoint]],
        context: DriverContext,
    ) -> None:
        super().__init__(device_id, settings, points, context)
        self.commands = tuple(dict.fromkeys(p.settings.command or "" for p in self.points))

    async def read(self, ts: datetime) -> list[Reading]:
        port = self._open_port()
        async with port.lock:  # held for the whole poll: one device at a time on a bus
            port = self._open_port()  # lost while waiting for another device's poll
            answers = await self._ask_all(port)
        return [self._answer_reading(point, answers, ts) for point in self.points]

    async def _ask_all(self, port: Port) -> dict[str, str | _Silence]:
        answers: dict[str, str | _Silence] = {}
        answered = False
        for command in self.commands:
            answer = await self._ask(port, command)
            if isinstance(answer, _Silence):
                if not answered:  # the device is not there: do not hold the bus any longer
                    raise DriverError(f"{self.settings.port}: {answer.detail}")
            else:
                answered = True
            answers[command] = answer
        return answers

    async def _ask(self, port: Port, command: str) -> str | _Silence:
        """One command and its answer (the first frame after it, echo skipped)."""
        settings, clock = self.settings, self.context.clock
        ready = port.quiet_until
        if port.last_io is not None:
            ready = max(ready, port.last_io + settings.pause_between_commands)
        if ready > clock.monotonic():
            await clock.sleep_until(ready)
        port.flush()  # late answers and chatter belong to nobody
        port.send(to_bytes(command + settings.send_terminator))
        deadline = clock.monotonic() + settings.response_timeout
        try:
            while True:
                remaining = deadline - clock.monotonic()
                if remaining <= 0:
                    raise TimeoutError
                _, text = await clock.wait_for(port.next_frame(), remaining)
                if settings.echo and text == command.strip():
                    continue
                return text
        except TimeoutError:
            port.quiet_until = clock.monotonic() + settings.response_timeout
            return _Silence(f"no answer to {show(command)} within {settings.response_timeout:g} s")
        finally:
            port.last_io = clock.monotonic()

    def _answer_reading(
        self, point: Point[SerialPoint], answers: dict[str, str | _Silence], ts: datetime
    ) -> Reading:
        command = point.settings.command or ""
        answer = answers[command]
        if isinstance(answer, _Silence):
            return Reading.bad(point.channel, ts, Quality.COMM_ERROR, answer.detail)
        outcome = self.parsers[point.channel].parse(answer)
        if outcome is None:
            return Reading.bad(
                point.channel,
                ts,
                Quality.COMM_ERROR,
                f"answer to {show(command)} does not match the pattern: {show(answer)}",
            )
        return self._reading(point.channel, outcome, ts, f"answer to {show(command)}: ")


class SerialPushDriver(SerialDriver, StreamingDriver[SerialSettings, SerialPoint]):
    """Maps every frame the device pushes to channel readings and device events."""

    def __init__(
        self,
        device_id: str,
        settings: SerialSettings,
        points: Sequence[Point[SerialPoint]],
        context: DriverContext,
    ) -> None:
        super().__init__(device_id, settings, points, context)
        self.events = EventMatcher(settings.events)
        self.unmatched = 0
        """Frames that matched no channel and no event."""

    async def receive(self, sink: ReadingSink) -> None:
        port = self._open_port()
        self.events.reset()
        while True:
            ts, text = await port.next_frame()
            self.dispatch(ts, text, sink)

    def dispatch(self, ts: datetime, text: str, sink: ReadingSink) -> None:
        """One frame to the channels and events it matches, stamped with its arrival."""
        matched = False
        for channel, parser in self.parsers.items():
            outcome = parser.parse(text)
            if outcome is not None:
                matched = True
                sink.reading(self._reading(channel, outcome, ts))
        events, matched_event = self.events.match(text)
        for event in events:
            sink.event(event.kind, event.message, event.data)
        if not (matched or matched_event):
            self.unmatched += 1
            self._warn(
                "unmatched",
                "device %s: frame matches no channel or event: %s (%d unmatched so far)",
                self.device_id,
                show(text),
                self.unmatched,
            )
