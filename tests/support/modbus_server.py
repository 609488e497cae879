"""A real pymodbus server in-process, for driver tests, simulators and benchmarks.

``modbus_server(port, {unit: Unit(...)}, framing="tcp"|"rtu"|"ascii")`` starts a pymodbus
``ModbusTcpServer`` on 127.0.0.1 (port 0: one the OS picks) with the given register image;
with ``rtu`` or ``ascii`` framing a client reaches it as the serial port
``socket://127.0.0.1:<port>``, like a serial-to-Ethernet gateway. Every request is recorded
(to count what a driver asks for) and faults are injected per unit: refuse some addresses with
an exception code, answer late, ignore some addresses, or stay silent like a dead unit on a
live RS-485 bus. A ``Unit``'s
fault fields may be changed while the server runs; ``ModbusTestServer.write`` changes values.

Registers missing from the image answer "illegal data address" (exception 2). Bits are
different: pymodbus pads a bit block to whole 16-bit words and fills holes with False.

pymodbus 3.16 notes: the server is ``ModbusTcpServer(context, framer=..., address=...)``
started with ``await serve_forever(background=True)`` and stopped with ``await shutdown()``;
the datastore is a list of ``SimDevice`` (the old ``ModbusDeviceContext`` classes are
deprecated and converted to it). Its request handler answers each request in a task but reads
the *latest* request's unit id and transaction id after the datastore call, so a late answer
would carry the wrong unit id; the handler below captures each request first, which is also
where the fault injection happens.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import AsyncIterator, Collection, Coroutine, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from pymodbus import FramerType
from pymodbus.client import AsyncModbusTcpClient, ModbusTcpClient
from pymodbus.constants import ExcCodes
from pymodbus.pdu import ExceptionResponse
from pymodbus.server import ModbusTcpServer
from pymodbus.server.requesthandler import ServerRequestHandler
from pymodbus.simulator import DataType, SimData, SimDevice

Kind = Literal["holding", "input", "coil", "discrete"]
Framing = Literal["tcp", "rtu", "ascii"]

FUNCTION_KIND: dict[int, Kind] = {1: "coil", 2: "discrete", 3: "holding", 4: "input"}
_WRITE_FUNCTION: dict[Kind, int] = {"coil": 15, "discrete": 2, "holding": 16, "input": 4}
_FRAMER = {"tcp": FramerType.SOCKET, "rtu": FramerType.RTU, "ascii": FramerType.ASCII}


@dataclass
class Unit:
    """One unit's register image and the faults it shows."""

    holding: dict[int, int] = field(default_factory=dict)
    input: dict[int, int] = field(default_factory=dict)
    coils: dict[int, bool] = field(default_factory=dict)
    discrete: dict[int, bool] = field(default_factory=dict)
    refuse: Mapping[tuple[Kind, int], int] = field(default_factory=dict)
    """(kind, address) -> Modbus exception code for any read that touches the address."""
    mute: Collection[tuple[Kind, int]] = ()
    """(kind, address) a read may not touch: such a request is never answered."""
    delay: float = 0.0
    """Seconds before every answer."""
    late: Mapping[tuple[Kind, int], float] = field(default_factory=dict)
    """(kind, address) -> extra seconds before answering a read that touches the address."""
    silent: bool = False
    """Never answer anything (a dead unit; unknown units are silent too)."""

    def refused(self, kind: Kind, address: int, count: int) -> int | None:
        for (k, a), code in self.refuse.items():
            if k == kind and address <= a < address + count:
                return code
        return None

    def lateness(self, kind: Kind, address: int, count: int) -> float:
        return sum(
            s for (k, a), s in self.late.items() if k == kind and address <= a < address + count
        )

    def muted(self, kind: Kind, address: int, count: int) -> bool:
        return any(k == kind and address <= a < address + count for k, a in self.mute)


def at(address: int, values: Iterable[int]) -> dict[int, int]:
    """Registers ``values`` from ``address`` on, for a :class:`Unit` image."""
    return {address + i: v for i, v in enumerate(values)}


def encode(value: int | float | str, data_type: str, byte_order: str = "ABCD") -> list[int]:
    """Registers as a device sends ``value``: pymodbus' conversion plus the byte swaps
    (``BADC``/``DCBA``) that pymodbus does not have."""
    dt = ModbusTcpClient.DATATYPE[data_type.upper()]
    word_order: Literal["big", "little"] = "little" if byte_order in ("CDAB", "DCBA") else "big"
    regs: list[int] = ModbusTcpClient.convert_to_registers(value, dt, word_order=word_order)
    if byte_order in ("BADC", "DCBA"):
        regs = [((r & 0xFF) << 8) | (r >> 8) for r in regs]
    return regs


@dataclass(frozen=True)
class Seen:
    """One request as the server received it."""

    unit: int
    kind: Kind
    address: int
    count: int
    connection: int = 0
    """Which connection (1, 2, ... in accept order) carried it."""


def _runs(image: Mapping[int, Any]) -> list[tuple[int, list[Any]]]:
    runs: list[tuple[int, list[Any]]] = []
    for address in sorted(image):
        if runs and runs[-1][0] + len(runs[-1][1]) == address:
            runs[-1][1].append(image[address])
        else:
            runs.append((address, [image[address]]))
    return runs


def _block(image: Mapping[int, Any], bits: bool) -> list[SimData]:
    if not image:  # pymodbus wants every block non-empty: park one out of the way
        if bits:
            return [SimData(0xFFF0, values=[False] * 16, datatype=DataType.BITS)]
        return [SimData(0xFFFF, count=1, datatype=DataType.INVALID)]
    kind = DataType.BITS if bits else DataType.REGISTERS
    return [
        SimData(address, values=[bool(v) for v in values] if bits else values, datatype=kind)
        for address, values in _runs(image)
    ]


def _device(unit_id: int, unit: Unit) -> SimDevice:
    return SimDevice(
        id=unit_id,
        simdata=(
            _block(unit.coils, True),
            _block(unit.discrete, True),
            _block(unit.holding, False),
            _block(unit.input, False),
        ),
    )


class _Handler(ServerRequestHandler):
    """pymodbus' connection handler, answering each request as captured on arrival."""

    def __init__(self, owner: _Server) -> None:
        super().__init__(  # type: ignore[no-untyped-call]
            owner, owner.trace_packet, owner.trace_pdu, owner.trace_connect
        )
        self.owner = owner
        owner.test_server.connections += 1
        self.number = owner.test_server.connections
        self.pending: deque[tuple[Any, Any]] = deque()

    def callback_data(self, data: bytes, addr: tuple[str, int] | None = None) -> int:
        used: int = super().callback_data(data, addr)  # schedules handle_later per request
        if self.last_pdu is not None:
            self.pending.append((self.last_pdu, self.last_addr))
        return used

    def handle_later(self) -> None:
        if self.pending:
            pdu, addr = self.pending.popleft()
            self.owner.test_server.spawn(self.answer(pdu, addr))

    async def answer(self, pdu: Any, addr: Any) -> None:
        test_server = self.owner.test_server
        kind = FUNCTION_KIND.get(pdu.function_code)
        unit = test_server.units.get(pdu.dev_id)
        if kind is not None:
            seen = Seen(pdu.dev_id, kind, pdu.address, pdu.count, self.number)
            test_server.requests.append(seen)
        if unit is None or unit.silent:
            return
        if kind is not None and unit.muted(kind, pdu.address, pdu.count):
            return
        delay = unit.delay + (unit.lateness(kind, pdu.address, pdu.count) if kind else 0.0)
        if delay:
            await asyncio.sleep(delay)
        code = unit.refused(kind, pdu.address, pdu.count) if kind is not None else None
        if code is not None:
            response = ExceptionResponse(pdu.function_code, code)
        else:
            try:
                response = await pdu.datastore_update(self.owner.context, pdu.dev_id)
            except Exception:
                response = ExceptionResponse(pdu.function_code, ExcCodes.DEVICE_FAILURE)
        response.transaction_id = pdu.transaction_id
        response.dev_id = pdu.dev_id
        if self.transport:
            self.server_send(response, addr)  # type: ignore[no-untyped-call]


class _Server(ModbusTcpServer):
    def __init__(self, test_server: ModbusTestServer) -> None:
        super().__init__(
            [_device(uid, unit) for uid, unit in test_server.units.items()],
            framer=_FRAMER[test_server.framing],
            address=("127.0.0.1", test_server.port),
        )
        self.test_server = test_server

    def callback_new_connection(self) -> _Handler:
        return _Handler(self)


class ModbusTestServer:
    """A running server: its address, its units, the requests and connections it has seen."""

    def __init__(self, port: int, units: Mapping[int, Unit], framing: Framing) -> None:
        self.port = port
        self.units = dict(units)
        self.framing: Framing = framing
        self.requests: list[Seen] = []
        self.connections = 0
        """Client connections accepted so far (including ones that asked nothing)."""
        self._tasks: set[asyncio.Task[None]] = set()
        self._server: _Server | None = None

    @property
    def url(self) -> str:
        """The serial port name a pymodbus serial client uses to reach this server."""
        return f"socket://127.0.0.1:{self.port}"

    def requests_for(self, unit: int) -> list[Seen]:
        return [r for r in self.requests if r.unit == unit]

    def spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def write(self, unit: int, kind: Kind, address: int, values: Sequence[Any]) -> None:
        """Change the image while the server runs (the addresses must exist)."""
        assert self._server is not None
        values = [bool(v) for v in values] if kind in ("coil", "discrete") else list(values)
        error = await self._server.context.async_setValues(
            unit, _WRITE_FUNCTION[kind], address, values
        )
        if error:
            raise ValueError(f"cannot write {kind} {address}: {error!r}")

    async def start(self) -> None:
        """Listen on :attr:`port`; port 0 takes one the OS picks (kept by a later start)."""
        self._server = _Server(self)
        await self._server.serve_forever(background=True)
        listener = self._server.transport  # pymodbus only logs a failed listen
        if not isinstance(listener, asyncio.Server) or not listener.sockets:
            await self.stop()
            raise RuntimeError(f"the Modbus test server could not listen on 127.0.0.1:{self.port}")
        self.port = int(listener.sockets[0].getsockname()[1])

    async def stop(self) -> None:
        if self._server is not None:
            await self._server.shutdown()  # type: ignore[no-untyped-call]
            self._server = None
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        await asyncio.sleep(0)  # let closed transports run their callbacks


@contextlib.asynccontextmanager
async def modbus_server(
    port: int, units: Mapping[int, Unit] | Unit, *, framing: Framing = "tcp"
) -> AsyncIterator[ModbusTestServer]:
    """Run a Modbus server on 127.0.0.1:``port`` (0: a port the OS picks, then in
    ``server.port``); a bare :class:`Unit` is unit 1."""
    server = ModbusTestServer(port, {1: units} if isinstance(units, Unit) else units, framing)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


#: The coil the horn tests wire their horn to.
HORN_COIL = 5


async def read_coil(port: int, address: int = HORN_COIL) -> bool:
    client = AsyncModbusTcpClient("127.0.0.1", port=port, timeout=2, retries=0)
    try:
        assert await client.connect()
        response = await client.read_coils(address, count=1, device_id=1)
        assert not response.isError()
        return bool(response.bits[0])
    finally:
        client.close()
