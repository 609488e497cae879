"""The MQTT driver against a real Mosquitto on a free 127.0.0.1 port (tests/support/mosquitto.py).

Each test drives ``connect`` / ``receive`` / ``close`` itself with a recording sink; the
coordinator around it (reconnect, stale rows) is tested in test_mqtt_coordinator.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import shutil
import signal
import subprocess
import time
from collections.abc import AsyncIterator, Callable, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from drivers.base import DriverContext, DriverError, Point
from drivers.mqtt.config import MqttPoint, MqttSettings
from drivers.mqtt.driver import MqttDriver
from monitor.core.clock import SystemClock
from monitor.core.model import FLAG_LATE, Quality, Reading
from tests.support.mosquitto import HOST, Mosquitto, make_tls_files, mosquitto, running_broker
from tests.support.ports import ClosedPorts

__all__ = ["mosquitto"]  # the fixture, imported for pytest

pytestmark = pytest.mark.timeout(30)


class Sink:
    """Records what the driver hands on; ``until`` waits for a condition on real time."""

    def __init__(self) -> None:
        self.readings: list[Reading] = []
        self.events: list[tuple[str, str, dict[str, Any]]] = []
        self.changes: list[tuple[bool, str]] = []
        self.on_reading: Callable[[Reading], None] | None = None

    def reading(self, reading: Reading) -> None:
        self.readings.append(reading)
        if self.on_reading is not None:
            self.on_reading(reading)

    def event(self, kind: str, message: str, data: Mapping[str, Any] | None = None) -> None:
        self.events.append((kind, message, dict(data or {})))

    def availability(self, online: bool, reason: str) -> None:
        self.changes.append((online, reason))

    def of(self, channel: str) -> list[Reading]:
        return [r for r in self.readings if r.channel == channel]

    def kinds(self, kind: str) -> list[tuple[str, str, dict[str, Any]]]:
        return [e for e in self.events if e[0] == kind]

    async def until(self, condition: Callable[[], bool], what: str, timeout: float = 5.0) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"timed out waiting for {what}; readings {self.readings[-5:]}, "
                    f"events {self.events[-5:]}, availability {self.changes}"
                )
            await asyncio.sleep(0.01)


def make_driver(
    broker: Mosquitto,
    sources: Mapping[str, Mapping[str, Any]],
    *,
    device_id: str = "broker",
    shared: dict[str, Any] | None = None,
    **settings: Any,
) -> MqttDriver:
    data = {"host": broker.host, "port": broker.port, "client_id": f"cw-{device_id}", **settings}
    parsed = MqttSettings.model_validate(data)
    points = [Point(ch, MqttPoint.model_validate(src)) for ch, src in sources.items()]
    assert MqttDriver.check(parsed, points) == []
    context = DriverContext(
        SystemClock(), logging.getLogger("test.mqtt"), shared if shared is not None else {}
    )
    return MqttDriver(device_id, parsed, points, context)


@contextlib.asynccontextmanager
async def receiving(driver: MqttDriver, sink: Sink) -> AsyncIterator[asyncio.Task[None]]:
    """connect + receive in a task; cancel and close at the end (as the coordinator does)."""
    await driver.connect()
    task = asyncio.create_task(driver.receive(sink), name="mqtt-receive")
    try:
        yield task
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, DriverError):
            await task
        await driver.close()


def good(readings: list[Reading]) -> list[float | str | None]:
    assert all(r.quality is Quality.GOOD for r in readings), readings
    return [r.value for r in readings]


# --- values ---------------------------------------------------------------------------------


async def test_plain_and_json_payloads_with_field_paths(mosquitto: Mosquitto) -> None:
    driver = make_driver(
        mosquitto,
        {
            "fr.plain": {"topic": "lab/fr/plain"},
            "fr.tasmota": {"topic": "tele/fr/SENSOR", "field": "DS18B20.Temperature"},
            "fr.co2": {"topic": "lab/inc/state", "field": "sensors[1].value", "scale": 0.0001},
            "fr.door": {"topic": "stat/fr/DOOR", "map": {"OPEN": 1, "CLOSED": 0}},
            "fr.any_probe": {"topic": "lab/+/probe/#", "field": "v"},
            "fr.label": {"topic": "lab/inc/state", "field": "name", "type": "text"},
        },
    )
    sink = Sink()
    async with receiving(driver, sink):
        await mosquitto.publish_many(
            [
                ("lab/fr/plain", "-80.4"),
                ("tele/fr/SENSOR", json.dumps({"DS18B20": {"Id": "01", "Temperature": -79.6}})),
                ("lab/inc/state", json.dumps({"name": "inc-2", "sensors": [{}, {"value": 50100}]})),
                ("stat/fr/DOOR", "OPEN"),
                ("stat/fr/DOOR", "CLOSED"),
                ("lab/a/probe/1/x", '{"v": 4.5}'),
            ]
        )
        await sink.until(lambda: len(sink.readings) == 7, "7 readings")
    assert good(sink.of("fr.plain")) == [-80.4]
    assert good(sink.of("fr.tasmota")) == [-79.6]
    assert good(sink.of("fr.co2")) == [pytest.approx(5.01)]
    assert good(sink.of("fr.door")) == [1, 0]
    assert good(sink.of("fr.any_probe")) == [4.5]
    assert good(sink.of("fr.label")) == ["inc-2"]
    assert driver.metrics.get("messages") == 6 and driver.metrics.get("readings") == 7


async def test_one_subscription_serves_many_channels(mosquitto: Mosquitto) -> None:
    driver = make_driver(
        mosquitto,
        {"fr.cabinet": {}, "fr2.probe": {}},
        subscriptions=[
            {"topic": "site/+/+/temperature", "channel": "{1}.{2}", "field": "value"},
            {"topic": "plain/+/+", "channel": "{1}.{2}"},
        ],
    )
    assert driver.filters == ["site/+/+/temperature", "plain/+/+"]
    sink = Sink()
    async with receiving(driver, sink):
        await mosquitto.publish_many(
            [
                ("site/fr/cabinet/temperature", '{"value": -80.1}'),
                ("site/fr2/probe/temperature", '{"value": 3.5}'),
                ("site/unknown/thing/temperature", '{"value": 1}'),
                ("plain/fr/cabinet", "-80.2"),
            ]
        )
        await sink.until(lambda: len(sink.readings) == 4, "4 readings")
    assert good(sink.of("fr.cabinet")) == [-80.1, -80.2]
    assert good(sink.of("fr2.probe")) == [3.5]
    # ids not bound to the device are handed on: the coordinator drops and counts them
    assert good(sink.of("unknown.thing")) == [1]


async def test_retained_messages_arrive_on_subscribe(mosquitto: Mosquitto) -> None:
    await mosquitto.publish("stat/fr/DOOR", "OPEN", retain=True)
    await mosquitto.publish("lab/fr/plain", "-80", retain=True)
    sources: dict[str, dict[str, Any]] = {
        "fr.door": {"topic": "stat/fr/DOOR", "map": {"OPEN": 1, "CLOSED": 0}},
        "fr.t": {"topic": "lab/fr/plain"},
    }
    sink = Sink()
    async with receiving(make_driver(mosquitto, sources), sink):
        await sink.until(lambda: len(sink.readings) == 2, "the retained values")
    assert good(sink.of("fr.door")) == [1] and good(sink.of("fr.t")) == [-80]

    ignoring = make_driver(mosquitto, sources, device_id="other", accept_retained=False)
    sink = Sink()
    async with receiving(ignoring, sink):
        await mosquitto.publish("lab/fr/plain", "-81")
        await sink.until(lambda: len(sink.readings) == 1, "the live value")
    assert good(sink.readings) == [-81]
    assert ignoring.metrics.get("retained_ignored") == 2


# --- availability ---------------------------------------------------------------------------


async def test_status_topic_drives_availability(
    mosquitto: Mosquitto, caplog: pytest.LogCaptureFixture
) -> None:
    await mosquitto.publish("gw/status", "Online", retain=True)
    driver = make_driver(
        mosquitto,
        {"fr.t": {"topic": "gw/fr/t"}},
        status_topic="gw/status",
        status_online="Online",
        status_offline="Offline",
    )
    sink = Sink()
    async with receiving(driver, sink):
        await sink.until(
            lambda: sink.changes == [(True, "status topic gw/status says Online")], "online"
        )
        await mosquitto.publish("gw/status", "Offline", retain=True)
        await sink.until(lambda: len(sink.changes) == 2, "offline")
        assert sink.changes[-1] == (False, "status topic gw/status says Offline")
        await mosquitto.publish("gw/status", "rebooting")  # neither: counted, logged, ignored
        await mosquitto.publish("gw/status", "Offline")  # no change: not repeated
        await mosquitto.publish("gw/status", "Online")
        await sink.until(lambda: len(sink.changes) == 3, "online again")
        assert sink.changes[-1][0] is True
    assert driver.metrics.get("status_unknown") == 1
    assert "gw/status says 'rebooting'" in caplog.text


async def test_a_gateway_last_will_marks_the_device_offline(mosquitto: Mosquitto) -> None:
    """A real LWT: a client with a will on the status topic dies without DISCONNECT."""
    sub = shutil.which("mosquitto_sub")
    if sub is None:
        pytest.skip("mosquitto_sub is not installed (apt-get install mosquitto-clients)")
    await mosquitto.publish("gw/status", "online", retain=True)
    gateway = subprocess.Popen(  # noqa: ASYNC220
        [
            sub,
            "-h",
            HOST,
            "-p",
            str(mosquitto.port),
            "-i",
            "gw-lwt",
            "-t",
            "gw/cmd",
            "--will-topic",
            "gw/status",
            "--will-payload",
            "offline",
            "--will-retain",
            "--will-qos",
            "1",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        await mosquitto.wait_for_log("gw-lwt")
        driver = make_driver(mosquitto, {"fr.t": {"topic": "gw/fr/t"}}, status_topic="gw/status")
        sink = Sink()
        async with receiving(driver, sink):
            await sink.until(
                lambda: sink.changes == [(True, "status topic gw/status says online")], "online"
            )
            gateway.send_signal(signal.SIGKILL)
            await sink.until(lambda: len(sink.changes) == 2, "the last will")
            assert sink.changes[-1] == (False, "status topic gw/status says offline")
    finally:
        gateway.kill()
        gateway.wait()


# --- malformed input ------------------------------------------------------------------------


async def test_malformed_payloads_are_bad_readings_counted_and_harmless(
    mosquitto: Mosquitto, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="test.mqtt")
    driver = make_driver(
        mosquitto,
        {
            "fr.json": {"topic": "dev/json", "field": "t"},
            "fr.plain": {"topic": "dev/plain"},
            "fr.ok": {"topic": "dev/ok"},
        },
        max_payload_bytes=64 * 1024,
    )
    sink = Sink()
    cases = [
        ("dev/json", b"{not json", Quality.COMM_ERROR, "invalid JSON"),
        ("dev/json", b'{"other": 1}', Quality.COMM_ERROR, "field 't' missing"),
        ("dev/json", b'{"t": "warm"}', Quality.COMM_ERROR, "not a number: 'warm'"),
        ("dev/json", b'{"t": NaN}', Quality.SENSOR_FAULT, "device reported nan"),
        ("dev/json", b'{"t": Infinity}', Quality.SENSOR_FAULT, "device reported inf"),
        ("dev/json", b'{"t": null}', Quality.SENSOR_FAULT, "device reported null"),
        ("dev/json", b"[" * 50_000, Quality.COMM_ERROR, "nested too deeply"),
        ("dev/json", b'{"t": "' + b"x" * (1024 * 1024) + b'"}', Quality.COMM_ERROR, "larger than"),
        ("dev/plain", b"\xff\xfe-80", Quality.COMM_ERROR, "not UTF-8"),
        ("dev/plain", b"NaN", Quality.SENSOR_FAULT, "device reported NaN"),
        ("dev/plain", b"", Quality.COMM_ERROR, "empty payload"),
    ]
    async with receiving(driver, sink) as task:
        await mosquitto.publish_many([(t, p) for t, p, _, _ in cases] + [("dev/ok", b"-80.5")])
        await sink.until(lambda: len(sink.readings) == len(cases) + 1, "every reading")
        await mosquitto.publish_many([("dev/json", b'{"t": -79.5}'), ("dev/plain", b"-78")])
        await sink.until(lambda: len(sink.readings) == len(cases) + 3, "good readings again")
        assert not task.done()  # nothing crashed the driver
    bad = sink.readings[: len(cases)]
    for reading, (topic, _, quality, words) in zip(bad, cases, strict=True):
        assert reading.quality is quality, (topic, reading)
        assert reading.value is None
        assert words in (reading.detail or ""), (words, reading.detail)
    assert good(sink.of("fr.ok")) == [-80.5]
    assert good(sink.of("fr.json")[-1:]) == [-79.5] and good(sink.of("fr.plain")[-1:]) == [-78]
    counts = driver.metrics.snapshot()
    assert counts["bad_readings.invalid_json"] == 2
    assert counts["bad_readings.too_large"] == 1
    assert counts["bad_readings.non_finite"] == 3
    assert counts["bad_readings.null"] == 1
    assert counts["bad_readings.missing_field"] == 1
    assert counts["bad_readings.not_a_number"] == 1
    assert counts["bad_readings.not_utf8"] == 1 and counts["bad_readings.empty"] == 1
    assert "topic dev/json (channel fr.json): invalid JSON" in caplog.text
    assert "larger than max_payload_bytes 65536" in caplog.text


async def test_bad_log_lines_are_rate_limited(
    mosquitto: Mosquitto, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="test.mqtt")
    driver = make_driver(mosquitto, {"fr.t": {"topic": "dev/t"}})
    sink = Sink()
    async with receiving(driver, sink):
        await mosquitto.publish_many([("dev/t", "garbage")] * 50)
        await sink.until(lambda: len(sink.readings) == 50, "50 bad readings")
    assert all(r.quality is Quality.COMM_ERROR for r in sink.readings)
    assert driver.metrics.get("bad_readings.not_a_number") == 50
    assert caplog.text.count("not a number: 'garbage'") == 1


# --- device timestamps ----------------------------------------------------------------------


async def test_device_timestamps_inside_and_outside_the_window(mosquitto: Mosquitto) -> None:
    driver = make_driver(
        mosquitto,
        {
            "fr.ms": {
                "topic": "dev/ms",
                "field": "v",
                "timestamp_field": "ts",
                "timestamp_format": "epoch_ms",
            },
            "fr.iso": {"topic": "dev/iso", "field": "v", "timestamp_field": "time"},
        },
        max_backfill="1h",
        max_future_skew="30s",
        late_after="2m",
    )
    now = datetime.now(UTC)

    def ms(ts: datetime, v: float) -> tuple[str, str]:
        return "dev/ms", json.dumps({"v": v, "ts": int(ts.timestamp() * 1000)})

    def iso(ts: datetime, v: float) -> tuple[str, str]:
        return "dev/iso", json.dumps({"v": v, "time": ts.isoformat()})

    fresh, old, ancient, ahead = (
        now - timedelta(seconds=5),
        now - timedelta(minutes=10),
        now - timedelta(hours=3),
        now + timedelta(minutes=5),
    )
    sink = Sink()
    async with receiving(driver, sink):
        await mosquitto.publish_many(
            [
                ms(fresh, 1),
                ms(old, 2),
                ms(ancient, 3),
                iso(ahead, 4),
                iso(ahead, 5),
                ("dev/iso", '{"v": 6, "time": "last tuesday"}'),
            ]
        )
        await sink.until(lambda: len(sink.readings) == 6, "6 readings")
    r_fresh, r_old, r_ancient = sink.of("fr.ms")
    assert (r_fresh.value, r_fresh.flags) == (1, 0)
    assert abs((r_fresh.ts - fresh).total_seconds()) < 0.002  # the device's own time
    assert (r_old.value, r_old.flags) == (2, FLAG_LATE)
    assert abs((r_old.ts - old).total_seconds()) < 0.002
    assert r_ancient.quality is Quality.COMM_ERROR and r_ancient.value is None
    assert "10800 s old, more than max_backfill 3600 s" in (r_ancient.detail or "")
    assert abs((r_ancient.ts - now).total_seconds()) < 5  # stamped on arrival
    r_ahead, r_ahead2, r_garbled = sink.of("fr.iso")
    assert r_ahead.quality is Quality.COMM_ERROR and "in the future" in (r_ahead.detail or "")
    assert r_ahead2.quality is Quality.COMM_ERROR
    assert r_garbled.quality is Quality.COMM_ERROR and "not ISO 8601" in (r_garbled.detail or "")
    skew = sink.kinds("device_clock_skew")
    assert [e[2]["channel"] for e in skew] == [
        "fr.ms",
        "fr.iso",
    ]  # one per channel, not per message
    assert skew[0][2]["skew_s"] == pytest.approx(-10800, abs=5)
    assert skew[1][2]["skew_s"] == pytest.approx(300, abs=5)
    assert driver.metrics.get("bad_readings.timestamp_out_of_window") == 3
    assert driver.metrics.get("readings_late") == 1


# --- reconnects, sessions, TLS ---------------------------------------------------------------


async def test_every_connect_subscribes_again(tmp_path: Path) -> None:
    """A broker that restarts without persistence forgets the session: without a new
    SUBSCRIBE the driver would be connected and deaf."""
    async with running_broker(tmp_path / "b") as broker:
        driver = make_driver(
            broker,
            {"fr.t": {"topic": "dev/t"}},
            subscriptions=[{"topic": "site/+/+", "channel": "{1}.{2}"}],
        )
        sink = Sink()
        async with receiving(driver, sink) as task:
            await broker.publish("dev/t", "1")
            await sink.until(lambda: len(sink.readings) == 1, "first reading")
            await broker.restart()
            with pytest.raises(DriverError, match=r"connection to broker .* lost"):
                await asyncio.wait_for(task, 5)
        async with receiving(driver, sink):
            await broker.publish_many([("dev/t", "2"), ("site/fr/x", "3")])
            await sink.until(lambda: len(sink.readings) == 3, "readings after the restart")
    assert good(sink.readings) == [1, 2, 3]


async def test_persistent_session_keeps_what_arrived_while_away(tmp_path: Path) -> None:
    """clean_session false + fixed client id + QoS 1 + broker persistence: messages
    published while coldwatch is stopped, even across a broker restart, are delivered."""
    async with running_broker(tmp_path / "b", persistence=True) as broker:
        sources = {"fr.t": {"topic": "dev/t"}}
        driver = make_driver(broker, sources, client_id="coldwatch-site-broker")
        await driver.connect()  # creates the session and its subscription
        await driver.close()
        await broker.publish_many([("dev/t", str(i)) for i in range(100)], qos=1)
        await broker.restart()  # clean stop: the queued messages are saved to disk
        again = make_driver(broker, sources, client_id="coldwatch-site-broker")
        sink = Sink()
        async with receiving(again, sink):
            await sink.until(lambda: len(sink.readings) == 100, "100 queued messages")
        assert good(sink.readings) == [float(i) for i in range(100)]


async def test_a_clean_session_loses_what_arrived_while_away(tmp_path: Path) -> None:
    """The contrast that shows why the documentation asks for a persistent session."""
    async with running_broker(tmp_path / "b") as broker:
        sources = {"fr.t": {"topic": "dev/t"}}
        driver = make_driver(broker, sources, clean_session=True, client_id=None)
        await driver.connect()
        await driver.close()
        await broker.publish_many([("dev/t", "1")], qos=1)
        sink = Sink()
        async with receiving(driver, sink):
            await broker.publish("dev/t", "2")
            await sink.until(lambda: len(sink.readings) == 1, "the live message")
        assert good(sink.readings) == [2]


async def test_two_devices_may_not_share_a_client_id(mosquitto: Mosquitto) -> None:
    shared: dict[str, Any] = {}
    first = make_driver(mosquitto, {}, device_id="a", shared=shared, client_id="same")
    second = make_driver(mosquitto, {}, device_id="b", shared=shared, client_id="same")
    await first.connect()
    try:
        with pytest.raises(DriverError, match="'same' is also used by device 'a'"):
            await second.connect()
    finally:
        await first.close()
        await second.close()


async def test_connection_refused_is_a_driver_error(
    tmp_path: Path, closed_port: ClosedPorts
) -> None:
    broker = Mosquitto(tmp_path / "never-started", port=closed_port())
    driver = make_driver(broker, {"fr.t": {"topic": "dev/t"}})
    with pytest.raises(DriverError, match=r"cannot connect to broker 127\.0\.0\.1"):
        await driver.connect()
    await driver.close()


async def test_tls_with_a_private_ca(tmp_path: Path) -> None:
    files = make_tls_files(tmp_path / "pki")
    async with running_broker(tmp_path / "b", tls=files) as broker:
        sink = Sink()
        verified = make_driver(
            broker, {"fr.t": {"topic": "dev/t"}}, tls={"ca_file": str(files.ca_file)}
        )
        async with receiving(verified, sink):
            await _publish_tls(broker, files, "dev/t", "-80.5")
            await sink.until(lambda: len(sink.readings) == 1, "a reading over TLS")
        assert good(sink.readings) == [-80.5]

        system_cas = make_driver(broker, {"fr.t": {"topic": "dev/t"}}, device_id="s", tls={})
        with pytest.raises(DriverError, match="certificate verify failed"):
            await system_cas.connect()
        await system_cas.close()

        insecure = make_driver(
            broker, {"fr.t": {"topic": "dev/t"}}, device_id="i", tls={"insecure": True}
        )
        await insecure.connect()
        await insecure.close()


async def _publish_tls(broker: Mosquitto, files: Any, topic: str, payload: str) -> None:
    import ssl

    import aiomqtt

    context = ssl.create_default_context(cafile=str(files.ca_file))
    async with aiomqtt.Client(broker.host, broker.port, tls_context=context, timeout=5) as c:
        await c.publish(topic, payload, qos=1)


# --- floods and broker drops ----------------------------------------------------------------


async def test_qos1_flood_is_delivered_completely(tmp_path: Path) -> None:
    """20k QoS 1 messages: acks after hand-on let the broker pace us; nothing is dropped."""
    n = 20_000
    async with running_broker(tmp_path / "b", extra=["max_queued_messages 100000"]) as broker:
        driver = make_driver(broker, {"fr.t": {"topic": "bench/t", "field": "v"}})
        sink = Sink()
        async with receiving(driver, sink):
            started = time.perf_counter()
            cpu = time.process_time()
            await broker.flood("bench/t", [json.dumps({"v": i}) for i in range(n)], qos=1)
            await sink.until(lambda: len(sink.readings) == n, f"{n} readings", timeout=25)
            elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    logging.getLogger("test.mqtt").warning(
        "QoS1 flood: %d msgs in %.2f s (%.0f/s wall, %.0f/s per CPU second of this process)",
        n,
        elapsed,
        n / elapsed,
        n / cpu,
    )
    assert [r.value for r in sink.readings] == [float(i) for i in range(n)]
    assert driver.metrics.get("queue_overflow") == 0


async def test_flood_past_the_queue_stays_bounded_and_is_counted(tmp_path: Path) -> None:
    """The receive queue only fills while nothing consumes it (``receive`` drains it on every
    wake-up, and paho reads one packet per wake-up), e.g. between connect and receive, or a
    loop held up elsewhere. QoS 0 is not paced by acks, so a flood then hits the bound: the
    queue stays within it, and every message is either a reading or counted and recorded."""
    n, limit = 20_000, 100
    async with running_broker(tmp_path / "b") as broker:
        driver = make_driver(
            broker,
            {"fr.t": {"topic": "bench/t"}},
            qos=0,
            max_queued_incoming_messages=limit,
        )
        sink = Sink()
        await driver.connect()
        try:
            assert driver._conn is not None
            queue = driver._conn.queue
            await broker.flood("bench/t", [str(i) for i in range(n)], qos=0)
            await sink.until(lambda: queue.qsize() + queue.overflowed == n, "the whole flood")
            assert queue.qsize() == limit and queue.bytes <= limit * 5
            receiving_task = asyncio.create_task(driver.receive(sink))
            await sink.until(lambda: len(sink.readings) == limit, "the queued messages")
            await broker.publish("bench/t", "-80", qos=0)
            await sink.until(lambda: len(sink.readings) == limit + 1, "a live message")
            receiving_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await receiving_task
        finally:
            await driver.close()
    assert good(sink.readings) == [float(i) for i in range(limit)] + [-80.0]
    dropped = driver.metrics.get("queue_overflow")
    assert dropped == n - limit
    (event,) = sink.kinds("receive_queue_overflow")
    assert event[2] == {"dropped": n - limit, "topics": {"bench/t": n - limit}}


async def test_receive_queue_bounds_bytes_and_stubs_oversized_payloads() -> None:
    from aiomqtt import Message

    from drivers.mqtt.client import Oversized, ReceiveQueue

    acked: list[int] = []
    queue = ReceiveQueue(maxsize=10)
    queue.configure(max_bytes=1000, max_payload=600, ack=lambda m: acked.append(m.mid))
    for mid in range(1, 4):
        queue.put_nowait(Message("a/b", b"x" * 400, 1, False, mid, None))
    queue.put_nowait(Message("a/c", b"y" * 5000, 1, False, 9, None))  # stubbed, not kept
    assert queue.qsize() == 3 and queue.bytes == 800  # the third 400 did not fit
    assert acked == [3] and queue.overflowed == 1 and queue.dropped_topics == {"a/b": 1}
    items = [queue.get_nowait() for _ in range(3)]
    assert isinstance(items[2], Oversized) and items[2].size == 5000 and items[2].payload == b""
    assert queue.bytes == 0


async def test_broker_drops_become_events(tmp_path: Path) -> None:
    """mosquitto's $SYS/broker/publish/messages/dropped, watched: drops the broker made
    while coldwatch was away, and new drops as they happen, become events with the count."""
    extra = ["sys_interval 1", "max_queued_messages 10"]
    async with running_broker(tmp_path / "b", extra=extra) as broker:
        sources = {"fr.t": {"topic": "dev/t"}}
        driver = make_driver(broker, sources, watch_broker_drops=True)
        await driver.connect()  # the persistent session, then away
        await driver.close()
        await broker.publish_many([("dev/t", str(i)) for i in range(30)])  # ~20 dropped
        import aiomqtt

        async with aiomqtt.Client(
            broker.host, broker.port, identifier="victim", clean_session=False
        ) as victim:
            await victim.subscribe("other/t", qos=1)
        sink = Sink()

        def reported() -> int:
            return sum(e[2]["dropped"] for e in sink.kinds("broker_dropped_messages"))

        async with receiving(driver, sink):
            # $SYS values are published every sys_interval: the first seen may predate the drops
            await sink.until(lambda: reported() + len(sink.of("fr.t")) == 30, "our drops", 5)
            before = len(sink.kinds("broker_dropped_messages"))
            await broker.publish_many([("other/t", str(i)) for i in range(15)])  # ~5 dropped
            await sink.until(
                lambda: len(sink.kinds("broker_dropped_messages")) > before, "new drops", 5
            )
        assert 0 < len(sink.of("fr.t")) < 30  # what the broker kept for us
        last = sink.kinds("broker_dropped_messages")[-1]
        assert 0 < last[2]["dropped"] <= 15 and last[2]["total"] == reported()
        assert last[2]["topic"] == "$SYS/broker/publish/messages/dropped"
        assert "readings may be lost" in last[1] or "since it started" in last[1]
        assert driver.metrics.get("broker_dropped") == reported()


async def test_a_connect_cut_short_leaves_nothing_behind() -> None:
    """The coordinator's timeout cancels connect while the broker has not answered yet;
    close() must hang up, or the half-open client would hold the persistent session and
    read (and acknowledge) messages nobody handles."""
    hung_up = asyncio.Event()

    async def silent_broker(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while await reader.read(1024):  # take CONNECT, never answer
            pass
        hung_up.set()
        writer.close()

    server = await asyncio.start_server(silent_broker, HOST, 0)
    port = server.sockets[0].getsockname()[1]
    try:
        settings = MqttSettings.model_validate({"host": HOST, "port": port, "client_id": "cw"})
        context = DriverContext(SystemClock(), logging.getLogger("test.mqtt"))
        driver = MqttDriver("broker", settings, [], context)
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(driver.connect(), 0.5)
        await driver.close()
        await asyncio.wait_for(hung_up.wait(), 2)
    finally:
        server.close()
        await server.wait_closed()


async def test_acl_denied_topics_go_quiet_and_the_rest_still_work(tmp_path: Path) -> None:
    """Mosquitto 2.0 grants a subscription its ACL forbids and then delivers nothing: such a
    channel goes stale (the coordinator's silence timer); the others are unaffected."""
    acl = tmp_path / "acl"
    acl.write_text("topic readwrite dev/#\ntopic write secret/#\n")
    async with running_broker(tmp_path / "b", extra=[f"acl_file {acl}"]) as broker:
        driver = make_driver(
            broker, {"fr.ok": {"topic": "dev/t"}, "fr.denied": {"topic": "secret/t"}}
        )
        sink = Sink()
        async with receiving(driver, sink):
            await broker.publish_many([("secret/t", "1"), ("dev/t", "2")])
            await sink.until(lambda: len(sink.readings) == 1, "the allowed channel")
        assert good(sink.readings) == [2] and sink.readings[0].channel == "fr.ok"


async def test_a_refused_subscription_is_logged_and_recorded(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A broker that answers SUBACK 0x80 for one filter (an ACL plugin, a bridge)."""
    from paho.mqtt.packettypes import PacketTypes
    from paho.mqtt.reasoncodes import ReasonCode

    class Refusing:
        async def subscribe(self, wanted: list[tuple[str, int]]) -> list[ReasonCode]:
            return [ReasonCode(PacketTypes.SUBACK, identifier=1 if t == "dev/t" else 0x80)
                    for t, _ in wanted]  # fmt: skip

    settings = MqttSettings.model_validate({"host": HOST, "client_id": "cw"})
    points = [Point(c, MqttPoint.model_validate({"topic": t})) for c, t in
              (("fr.ok", "dev/t"), ("fr.denied", "secret/t"))]  # fmt: skip
    driver = MqttDriver(
        "broker", settings, points, DriverContext(SystemClock(), logging.getLogger("test.mqtt"))
    )
    await driver._subscribe(Refusing())  # type: ignore[arg-type]
    assert driver._refused == ["secret/t"]
    assert "refused the subscription to secret/t" in caplog.text
