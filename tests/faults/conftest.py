"""The fault suite: faults against real peers, and one printed line of figures per fault.

Every test in this folder is marked ``faults`` (added at collection, see below): ``make
faults`` runs the suite on its own (``pytest -m faults tests/faults``) and ``make test``
leaves it out (``-m "not faults"``). At the end of the run the suite prints, under "fault
suite", one line per fault: readings lost, pages lost, pages duplicated, crashes.

Adding a fault
--------------
1. A new module ``tests/faults/test_fault_<name>.py`` (a basename unique under ``tests/``) with
   one async test that drives the fault against real peers: the daemon as a process
   (``fault_daemon.Daemons``, configured with ``fault_daemon.write_config`` and
   ``fault_daemon.paging``), a Modbus device (``modbus_peer``), a Mosquitto broker
   (``mqtt_broker``), or whatever peer the fault needs (add its fixture here, so that the
   imports of the tests' shared helpers stay in this file).
2. Count against what the peers recorded, not against coldwatch's logs
   (``fault_counts``: missed poll slots and unstored polls, the escalation record's decided
   pages against the outbox, stored MQTT numbers).
3. Hand the figures to the ``fault_report`` fixture: ``fault_report(FaultResult(fault=...,
   readings_lost=..., pages_lost=..., pages_duplicated=..., crashes=..., note=...))``. It
   files the result for the summary, then asserts 0 lost and 0 crashes. Call it before any
   other assertion of the test, so that a failing fault still prints its figures.
4. Give the test a ``pytest.mark.timeout`` that fits it; keep the whole suite within about
   2 minutes on a 2-core machine (``make faults`` prints the durations).

A test that fails before it hands over figures is printed as such ("no figures").

The summary works with and without pytest-xdist: results travel in each test report's
``user_properties``, which xdist carries from its workers to the process that prints.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator, Callable, Generator, Iterator, Mapping
from pathlib import Path
from typing import Any, Final

import pytest

from tests.faults.fault_daemon import Daemons
from tests.faults.fault_report import EXPECTED, PROPERTY, FaultResult, assert_no_loss
from tests.support.modbus_server import Seen, Unit, encode, modbus_server
from tests.support.mosquitto import Mosquitto
from tests.support.ports import free_port

HERE: Final = Path(__file__).parent
MARK: Final = "faults"

#: Mosquitto as docs/drivers.md ("A restart that loses nothing") tells a site to run it.
BROKER_SETTINGS: Final = (
    "autosave_interval 60",
    "max_queued_messages 100000",
    "max_queued_bytes 0",
    "max_inflight_messages 100",
    "persistent_client_expiration 14d",
    "sys_interval 10",
)

# --- marking, collecting and printing -----------------------------------------------------

_CALL = pytest.StashKey[pytest.TestReport]()
_outcomes: dict[str, str] = {}
"""The outcome of each fault test (one that uses ``fault_report``), in the order they ran."""
_results: dict[str, FaultResult] = {}
"""The figures each fault test filed."""


@pytest.hookimpl(tryfirst=True)  # before -m deselects: the mark must already be there
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if HERE in item.path.parents:
            item.add_marker(MARK)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item,
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if report.when == "call":
        item.stash[_CALL] = report
    return report


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    properties: dict[str, Any] = dict(report.user_properties)
    if EXPECTED not in properties:
        return
    if properties.get(PROPERTY) is not None:
        _results[report.nodeid] = FaultResult.from_property(properties[PROPERTY])
    if report.when == "call" or (report.when == "setup" and not report.passed):
        _outcomes[report.nodeid] = report.outcome
    elif report.failed and _outcomes.get(report.nodeid) == "passed":
        _outcomes[report.nodeid] = "error"  # in its teardown


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not _outcomes:
        return
    terminalreporter.write_sep("=", "fault suite")
    for nodeid, outcome in _outcomes.items():
        result = _results.get(nodeid)
        if result is None:
            terminalreporter.write_line(f"{nodeid}: no figures ({outcome})")
        else:
            verdict = "ok" if outcome == "passed" and result.ok else outcome.upper()
            terminalreporter.write_line(result.line(verdict))


@pytest.fixture
def fault_report(request: pytest.FixtureRequest) -> Iterator[Callable[[FaultResult], None]]:
    """File a fault's figures for the summary, then assert nothing was lost or crashed. A
    test that asks for it and finishes without handing figures over fails."""
    properties = request.node.user_properties
    properties.append((EXPECTED, True))
    filed: list[FaultResult] = []

    def record(result: FaultResult) -> None:
        filed.append(result)
        properties.append((PROPERTY, result.as_property()))
        assert_no_loss(result)

    yield record
    call = request.node.stash.get(_CALL, None)
    if call is not None and call.passed:
        assert len(filed) == 1, f"a fault test files its figures once, not {len(filed)} times"


# --- peers ------------------------------------------------------------------------------------


@pytest.fixture
def daemons(tmp_path: Path) -> Iterator[Callable[[Path], Daemons]]:
    """``daemons(config)``: the fault's daemon processes; any still running are killed at
    the end, whatever happened."""
    made: list[Daemons] = []

    def make(config: Path) -> Daemons:
        made.append(Daemons(config))
        return made[-1]

    yield make
    for each in made:
        each.close()


class _Stamped(list[Seen]):
    """The Modbus server's request list, with the wall-clock time each request arrived (the
    helper's handler appends a request as it arrives, before any answer)."""

    def __init__(self) -> None:
        super().__init__()
        self.times: list[float] = []

    def append(self, seen: Seen) -> None:
        self.times.append(time.time())
        super().append(seen)


class ModbusPeer:
    """A Modbus TCP device (the tests' pymodbus server, unit 1) whose holding registers hold
    temperatures as int32 tenths of a degree, two registers each."""

    def __init__(self, server: Any, requests: _Stamped) -> None:
        self.server = server
        self._requests = requests

    @property
    def port(self) -> int:
        return int(self.server.port)

    def served(self, address: int) -> list[float]:
        """When each read of the temperature at ``address`` reached the device (epoch s)."""
        return [
            t
            for t, seen in zip(self._requests.times, self._requests, strict=True)
            if seen.kind == "holding" and seen.address <= address < seen.address + seen.count
        ]

    async def set(self, address: int, celsius: float) -> None:
        await self.server.write(1, "holding", address, encode(round(celsius * 10), "int32"))


@pytest.fixture
def modbus_peer() -> Callable[[Mapping[int, float]], contextlib.AbstractAsyncContextManager[Any]]:
    """``async with modbus_peer({address: celsius, ...}) as device:`` a running ModbusPeer."""

    @contextlib.asynccontextmanager
    async def running(temperatures: Mapping[int, float]) -> AsyncIterator[ModbusPeer]:
        image: dict[int, int] = {}
        for address, celsius in temperatures.items():
            for i, register in enumerate(encode(round(celsius * 10), "int32")):
                image[address + i] = register
        async with modbus_server(free_port(), Unit(holding=image)) as server:
            requests = _Stamped()
            server.requests = requests
            yield ModbusPeer(server, requests)

    return running


@pytest.fixture
async def mqtt_broker(tmp_path: Path) -> AsyncIterator[Mosquitto]:
    """A running Mosquitto with persistence and the documented queue settings; ``stop()``
    (SIGTERM: the persistence file is saved) and ``start()`` keep its port and its files."""
    broker = Mosquitto(tmp_path / "broker", persistence=True, extra=BROKER_SETTINGS)
    await broker.start()
    try:
        yield broker
    finally:
        await broker.stop()
