"""The horn against a real pymodbus server: coil on, off when the last alarm holding it is
acknowledged or back to normal, pulse pattern on virtual time, RTU framing, failures."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from alarms.notify.base import NotifyError
from alarms.notify.horn import HornNotifier, HornSettings
from monitor.core.clock import FakeClock
from tests.support.modbus_server import HORN_COIL, ModbusTestServer, Unit, modbus_server, read_coil
from tests.support.notify import notification, person
from tests.support.ports import ClosedPorts

COIL = HORN_COIL
HORN = person("lab-horn", channels=("horn",), phone=None, email=None, pin=None)


@pytest.fixture
async def server() -> AsyncIterator[ModbusTestServer]:
    async with modbus_server(0, Unit(coils={COIL: False})) as srv:
        yield srv


async def wait_coil(port: int, want: bool, within: float = 2.0) -> None:
    deadline = time.monotonic() + within
    while await read_coil(port) != want:
        assert time.monotonic() < deadline, f"coil never became {want}"
        await asyncio.sleep(0.02)


def horn(port: int, clock: FakeClock | None = None, **changes: Any) -> HornNotifier:
    options: dict[str, Any] = {"host": "127.0.0.1", "port": port, "coil": COIL, "timeout": 2}
    options.update(changes)
    return HornNotifier("lab-horn", HornSettings(**options), clock=clock)


async def test_on_then_off(server: ModbusTestServer) -> None:
    notifier = horn(server.port)
    try:
        result = await notifier.send(notification(), HORN)
        assert result.provider_id == "horn:lab-horn:on"
        assert await read_coil(server.port) is True
        result = await notifier.send(notification(kind="acknowledged", state="ACKED"), HORN)
        assert result.provider_id == "horn:lab-horn:off"
        assert await read_coil(server.port) is False
    finally:
        await notifier.aclose()


async def test_sounds_until_the_last_alarm_is_dealt_with(server: ModbusTestServer) -> None:
    notifier = horn(server.port)
    try:
        await notifier.send(notification(alarm_id="A1007"), HORN)
        await notifier.send(notification(alarm_id="A1015"), HORN)
        await notifier.send(notification(alarm_id="A1007", kind="acknowledged"), HORN)
        assert await read_coil(server.port) is True  # A1015 still holds it
        await notifier.send(notification(alarm_id="A1015", kind="returned-to-normal"), HORN)
        assert await read_coil(server.port) is False
        await notifier.send(notification(alarm_id="A1015", kind="re-alarm"), HORN)
        assert await read_coil(server.port) is True
        # after a restart nothing is known, but an acknowledgement still silences the horn
        fresh = horn(server.port)
        await fresh.send(notification(alarm_id="A1015", kind="acknowledged"), HORN)
        await fresh.aclose()
        assert await read_coil(server.port) is False
    finally:
        await notifier.aclose()


async def test_off_only_on_acknowledgement_when_so_configured(server: ModbusTestServer) -> None:
    notifier = horn(server.port, off_on=["acknowledged"])
    try:
        await notifier.send(notification(), HORN)
        result = await notifier.send(notification(kind="returned-to-normal"), HORN)
        assert result.provider_id == "horn:lab-horn:unchanged"
        assert await read_coil(server.port) is True
    finally:
        await notifier.aclose()


async def test_pulse_pattern_on_virtual_time(server: ModbusTestServer, clock: FakeClock) -> None:
    notifier = horn(server.port, clock, pulse={"on": "2s", "off": "1s"})
    try:
        await notifier.send(notification(), HORN)
        assert await read_coil(server.port) is True
        await clock.advance(2.0)
        await wait_coil(server.port, False)
        await clock.advance(1.0)
        await wait_coil(server.port, True)
        await clock.advance(2.0)
        await wait_coil(server.port, False)
        await notifier.send(notification(kind="acknowledged"), HORN)
        assert await read_coil(server.port) is False
        assert notifier._pulse is None
        await clock.advance(10.0)
        assert await read_coil(server.port) is False  # the pattern stopped with the horn
    finally:
        await notifier.aclose()


async def test_closing_leaves_a_sounding_horn_on(
    server: ModbusTestServer, clock: FakeClock
) -> None:
    notifier = horn(server.port, clock, pulse={"on": "1s", "off": "5s"})
    await notifier.send(notification(), HORN)
    await clock.advance(1.0)
    await wait_coil(server.port, False)  # in the off half of the pattern
    await notifier.aclose()
    assert await read_coil(server.port) is True  # steady on: the alarm is not dealt with


async def test_rtu_through_a_serial_gateway() -> None:
    async with modbus_server(0, {3: Unit(coils={COIL: False})}, framing="rtu") as srv:
        notifier = HornNotifier(
            "lab-horn",
            HornSettings(serial_port=srv.url, unit=3, coil=COIL, timeout=2),
        )
        try:
            await notifier.send(notification(), HORN)
            assert await srv._server.context.async_getValues(3, 1, COIL, 1) == [True]  # type: ignore[union-attr]
            await notifier.send(notification(kind="acknowledged"), HORN)
            assert await srv._server.context.async_getValues(3, 1, COIL, 1) == [False]  # type: ignore[union-attr]
        finally:
            await notifier.aclose()


async def test_a_wrong_address_is_not_retryable(server: ModbusTestServer) -> None:
    notifier = horn(server.port, coil=900)
    try:
        with pytest.raises(NotifyError, match="exception 2") as info:
            await notifier.send(notification(), HORN)
        assert not info.value.retryable
    finally:
        await notifier.aclose()


async def test_nobody_listening_is_retryable(closed_port: ClosedPorts) -> None:
    notifier = horn(closed_port(), timeout=0.5)
    try:
        with pytest.raises(NotifyError) as info:
            await notifier.send(notification(), HORN)
        assert info.value.retryable
    finally:
        await notifier.aclose()


def test_settings() -> None:
    with pytest.raises(ValueError, match="exactly one of host"):
        HornSettings(coil=1)
    with pytest.raises(ValueError, match="off_on may only"):
        HornSettings(host="x", coil=1, off_on=["raised"])


async def test_shelving_an_alarm_silences_the_horn(server: ModbusTestServer) -> None:
    notifier = horn(server.port)
    try:
        await notifier.send(notification(), HORN)
        assert await read_coil(server.port) is True
        result = await notifier.send(notification(kind="silenced", state="SHELVED"), HORN)
        assert result.provider_id == "horn:lab-horn:off"
        assert await read_coil(server.port) is False
    finally:
        await notifier.aclose()


async def test_a_late_update_never_silences_a_newer_raise(server: ModbusTestServer) -> None:
    """A "shelved" update retried after the alarm was raised again must not switch off the
    horn the new raise switched on; an update newer than the raise does."""
    from datetime import timedelta

    notifier = horn(server.port)
    first = notification()
    try:
        await notifier.send(first, HORN)
        later = first.event_at + timedelta(minutes=5)
        await notifier.send(notification(event_at=later), HORN)  # raised again
        stale = notification(kind="silenced", state="SHELVED", event_at=first.event_at)
        result = await notifier.send(stale, HORN)
        assert result.provider_id == "horn:lab-horn:unchanged"
        assert await read_coil(server.port) is True
        acked = notification(kind="acknowledged", event_at=later + timedelta(minutes=1))
        await notifier.send(acked, HORN)
        assert await read_coil(server.port) is False
    finally:
        await notifier.aclose()
