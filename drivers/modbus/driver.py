"""The Modbus polled driver: plan the requests once, then read them all on every poll.

Failure is graded, so that one bad register never hides the rest of a freezer:

* a Modbus exception answer to a merged request is retried field by field, so only the faulty
  field goes bad (``comm_error``, the detail names the exception code);
* a NaN or infinite float is the device saying "unavailable" (Vaisala): ``sensor_fault``;
* a request without an answer, from a device that has answered an earlier request of the
  same poll, fails only its fields;
* a device whose first request of a poll goes unanswered (or that a gateway reports as
  unreachable), a refused connection or a lost one raises :class:`DriverError`: every channel
  goes bad and the coordinator handles retry and backoff. The driver never retries on its own.

Answers are checked against their request (unit id, function, length), and a serial line is
left quiet after a timeout, so that a late answer is never taken for another unit's or another
field's data (see :class:`_Exchanges`).
"""

from __future__ import annotations

from collections.abc import Coroutine, Sequence
from datetime import datetime
from typing import Any, ClassVar

from pymodbus.exceptions import ConnectionException, ModbusIOException

from drivers.base import DriverContext, DriverError, Point, PolledDriver
from drivers.modbus.answers import (
    GATEWAY_CODES,
    Answer,
    Failed,
    Layout,
    Outcome,
    Refused,
    RequestOutcome,
    check,
    describe,
)
from drivers.modbus.config import BIT_KINDS, ModbusPoint, ModbusSettings
from drivers.modbus.plan import Request, Span, plan_requests, split
from drivers.modbus.transport import GarbledAnswer, Link, line_of, link_for
from monitor.core.logs import RateLimiter
from monitor.core.model import Reading

__all__ = ["Answer", "Failed", "ModbusDriver", "Refused", "_check"]  # the tests' names
_check = check

_READ = {
    "holding": ("read_holding_registers", 3),
    "input": ("read_input_registers", 4),
    "coil": ("read_coils", 1),
    "discrete": ("read_discrete_inputs", 2),
}


class ModbusDriver(PolledDriver[ModbusSettings, ModbusPoint]):
    name: ClassVar[str] = "modbus"
    settings_model: ClassVar[type[ModbusSettings]] = ModbusSettings
    point_model: ClassVar[type[ModbusPoint]] = ModbusPoint

    def __init__(
        self,
        device_id: str,
        settings: ModbusSettings,
        points: Sequence[Point[ModbusPoint]],
        context: DriverContext,
    ) -> None:
        super().__init__(device_id, settings, points, context)
        self._requests = plan_requests(
            (p.settings for p in self.points),
            max_registers=settings.max_registers_per_request,
            max_bits=settings.max_bits_per_request,
            gap=settings.merge_gap,
            one_per_field=settings.one_request_per_field,
        )
        self._link: Link = link_for(device_id, settings, context.shared)
        self._line = line_of(settings)
        # read on every poll: plain attributes, not the settings model's properties
        self._serial = settings.serial
        self._close_after_poll = settings.close_after_poll
        # what each field needs on every poll, worked out once
        self._layout = Layout(self._requests, self.points)
        self._exchanges = _Exchanges(self, self._link)

    @classmethod
    def check(cls, settings: ModbusSettings, points: Sequence[Point[ModbusPoint]]) -> list[str]:
        messages = []
        for point in points:
            p = point.settings
            limit, what = (
                (settings.max_bits_per_request, "max_bits_per_request")
                if p.kind in BIT_KINDS
                else (settings.max_registers_per_request, "max_registers_per_request")
            )
            if p.count > limit:
                messages.append(
                    f"channel '{point.channel}': {p.count} registers at {p.address:#06x} do "
                    f"not fit in one request ({what} is {limit})"
                )
        return messages

    @classmethod
    def check_timing(cls, settings: ModbusSettings, timeout: float, interval: float) -> list[str]:
        if timeout <= settings.request_timeout:
            return [
                f"poll timeout {timeout:g} s must be longer than settings.request_timeout "
                f"{settings.request_timeout:g} s, or a device that fails one field fails whole"
            ]
        return []

    # --- lifecycle ------------------------------------------------------------------------

    async def connect(self) -> None:
        """Open the line (shared or own); a no-op if it is open."""
        link = self._join()
        async with link.lock:
            await self._open(link)

    async def close(self) -> None:
        """Leave the line; the last device to leave closes it. Safe at any time."""
        link = self._link
        link.users.discard(self.device_id)
        if not link.users:
            link.drop()

    # --- polling --------------------------------------------------------------------------

    def read(self, ts: datetime) -> Coroutine[Any, Any, list[Reading]]:
        if self._serial:
            return self._read_serial(ts)
        # a TCP link is this driver's alone (nobody to join) and its runner never overlaps two
        # calls: no lock to take (pymodbus keeps one request at a time on the connection), and
        # _poll's own coroutine, not one around it: a frame less on every resume of the poll
        return self._poll(self._link, ts)

    async def _read_serial(self, ts: datetime) -> list[Reading]:
        link = self._join()
        async with link.lock:  # held for the whole poll: one device at a time on a bus
            return await self._poll(link, ts)

    async def _poll(self, link: Link, ts: datetime) -> list[Reading]:
        """Every request of the plan, in order, with the link free for this device, and the
        readings made from their answers."""
        serial = self._serial
        try:
            if not link.connected:  # not open yet, or closed by another unit's poll
                await self._open(link)
            if serial:  # a TCP client has its own timeout from the start
                link.set_timeout(self.settings.request_timeout)
            exchange = self._exchanges
            exchange.answered, exchange.quiet_until = False, None
            outcomes: list[RequestOutcome] = []
            for request in self._requests:
                outcome = await exchange(request.span)
                if (
                    outcome.__class__ is Refused
                    and outcome.code not in GATEWAY_CODES
                    and len(request.parts) > 1
                ):
                    outcomes.append(await _field_by_field(exchange, request))
                else:
                    outcomes.append(outcome)
        except DriverError:
            if not serial:
                link.drop()  # a fresh TCP connection is the surest flush
            raise
        finally:
            if self._close_after_poll:
                link.drop()
        return self._layout.readings(outcomes, ts)

    def _join(self) -> Link:
        link = self._link
        if link.line != self._line:
            raise DriverError(
                f"{self.settings.serial_port} is already used with other serial settings "
                f"{link.line}; every device on one port must use the same framing, baudrate, "
                "bytesize, parity and stopbits"
            )
        link.users.add(self.device_id)
        return link

    async def _open(self, link: Link) -> None:
        try:
            await link.open(self.settings)
        except DriverError:
            await self.close()
            raise


async def _field_by_field(exchange: _Exchanges, request: Request) -> dict[Span, Outcome]:
    """A merged request was refused: ask for each of its fields alone, so that only the
    faulty field goes bad."""
    return {single.span: await exchange(single.span) for single in split(request)}


class _Exchanges:
    """The requests of one device poll, one at a time, and what their answers say about
    the device as a whole.

    * Until the device has answered something in this poll, silence (or a gateway saying the
      device is unreachable) means the device is down: :class:`DriverError` at once, so that a
      dead unit holds a shared bus for one ``request_timeout`` only.
    * After an unanswered (or mismatched) request on a serial line, the line is left quiet for
      one more ``request_timeout`` before the next request: RTU and ASCII frames carry no
      transaction id, so a late answer to the same unit, same function and same length would
      otherwise be taken for the next request's. (Other units' late answers are told apart by
      their unit id, and TCP answers by their transaction id.)
    """

    def __init__(self, driver: ModbusDriver, link: Link) -> None:
        self.driver = driver
        self.settings = driver.settings
        self.clock = driver.context.clock
        self.link = link
        self.answered = False
        self.quiet_until: float | None = None
        # read on every request: plain attributes, not the settings model's
        self.pause = driver.settings.pause_between_requests
        self.unit = driver.settings.unit

    async def __call__(self, span: Span) -> Outcome:
        """One request and its checked answer. Raises DriverError if the line is gone, or if
        the device has not answered anything in this poll yet."""
        settings, link, clock = self.settings, self.link, self.clock
        if self.quiet_until is not None:
            await clock.sleep_until(self.quiet_until)
            self.quiet_until = None
        pause = self.pause
        if pause > 0 and link.last_io is not None:
            await clock.sleep_until(link.last_io + pause)
        method, function = _READ[span.kind]
        outcome: Outcome
        unit = self.unit
        try:
            client = link.client
            if client is None:
                raise DriverError(f"connection to {settings.where} lost")
            # a client that is not connected refuses with ConnectionException (below), so no
            # check of its `connected` here: two pymodbus frames on every request
            response = await getattr(client, method)(span.address, count=span.count, device_id=unit)
        except ConnectionException as exc:
            raise DriverError(f"connection to {settings.where} lost: {exc}") from exc
        except ModbusIOException:
            outcome = Failed(
                f"no answer to {describe(span)} within {settings.request_timeout:g} s",
                silent=True,
            )
        except GarbledAnswer as exc:
            outcome = self._garbled(span, exc)
        except Exception as exc:  # e.g. a pymodbus decoding error: never out of read()
            outcome = Failed(f"request {describe(span)} failed: {exc}", silent=False)
        else:
            try:
                outcome = check(response, span, unit, function)
            except Exception as exc:  # an answer object without the expected attributes
                outcome = Failed(f"unusable answer to {describe(span)}: {exc!r}", silent=False)
        finally:
            link.last_io = clock.monotonic()
        if outcome.__class__ is Answer:
            self.answered = True
            return outcome
        unreachable = isinstance(outcome, Refused) and outcome.code in GATEWAY_CODES
        silent = isinstance(outcome, Failed) and outcome.silent
        if not (silent or unreachable):
            self.answered = True
        elif not self.answered:
            detail = outcome.detail if isinstance(outcome, Failed | Refused) else ""
            raise DriverError(f"unit {settings.unit} on {settings.where}: {detail}")
        if isinstance(outcome, Failed) and settings.serial:
            self.quiet_until = clock.monotonic() + settings.request_timeout
        return outcome

    def _garbled(self, span: Span, exc: GarbledAnswer) -> Outcome:
        """An answer that is not a Modbus frame: one warning per device a minute, counted.

        Over TCP the byte stream cannot be trusted any more: the device fails as a whole and
        its connection is dropped. On a serial line it is no usable answer, like silence."""
        driver, settings = self.driver, self.settings
        context = driver.context
        context.metrics.inc(f"garbled_answers.{driver.device_id}")
        limiter = context.shared.setdefault(_GARBAGE_LIMITER, RateLimiter(_GARBAGE_INTERVAL))
        allowed, held = limiter.allow(driver.device_id)
        if allowed:
            context.log.warning(
                "device %s: garbled answer to %s from %s: %s%s",
                driver.device_id,
                describe(span),
                settings.where,
                exc,
                f" ({held} more since the last warning)" if held else "",
            )
        detail = f"garbled answer to {describe(span)}: {exc}"
        if not settings.serial:
            raise DriverError(detail)
        return Failed(detail, silent=True)


#: One rate limiter for every Modbus device of a run, in ``context.shared``.
_GARBAGE_LIMITER = "modbus:garbled_answers"
_GARBAGE_INTERVAL = 60.0
