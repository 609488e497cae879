"""The MQTT streaming driver: one broker connection per coldwatch device.

``connect`` opens a new client and subscribes to every filter again (a broker that lost
the session, or a clean session, would otherwise leave the driver connected and deaf);
``receive`` hands each message's readings to the coordinator until the connection drops,
then raises :class:`DriverError`. Reconnecting, backoff and stale rows for quiet channels are
the coordinator's.

Nothing that arrives can crash the driver or reach another channel: a payload that gives no
value becomes a bad reading of the channel(s) it was for (``sensor_fault`` when the device
itself reports NaN/Infinity/null, ``comm_error`` with the reason otherwise), with a counter
and a rate-limited log line naming the topic. A message is acknowledged only after its
readings are handed on, so with a persistent session a restart loses nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import ClassVar

from aiomqtt import Message, MqttError

from drivers.base import DriverContext, DriverError, Point, ReadingSink, StreamingDriver
from drivers.mqtt.client import Connection, Oversized, tls_context
from drivers.mqtt.config import BROKER_DROPPED_TOPIC, MqttPoint, MqttSettings
from drivers.mqtt.health import Health
from drivers.mqtt.payload import DeviceFault, Extractor, Payload, PayloadError
from drivers.mqtt.timestamps import Verdict, Window
from drivers.mqtt.topics import Router, Template, has_wildcard, matches, minimal_filters
from monitor.core.logs import RateLimiter
from monitor.core.metrics import Metrics
from monitor.core.model import FLAG_LATE, Quality, Reading

#: Messages handled per wake-up before the event loop gets a turn (paho reads meanwhile).
BATCH = 500
#: At most one event per channel per this many seconds for a device clock out of window.
SKEW_EVENT_INTERVAL = 600.0
_CLIENT_IDS = "mqtt.client_ids"


@dataclass(frozen=True, slots=True)
class Route:
    """Where a matching message's value goes: a channel's own topic, or a mapped
    subscription whose template builds the channel id from the topic's levels."""

    topic_filter: str
    extractor: Extractor
    channel: str | None = None
    template: Template | None = None

    def channel_of(self, levels: list[str]) -> str:
        if self.channel is not None:
            return self.channel
        assert self.template is not None
        return self.template.render(levels)


class MqttDriver(StreamingDriver[MqttSettings, MqttPoint]):
    name: ClassVar[str] = "mqtt"
    settings_model: ClassVar[type[MqttSettings]] = MqttSettings
    point_model: ClassVar[type[MqttPoint]] = MqttPoint

    def __init__(
        self,
        device_id: str,
        settings: MqttSettings,
        points: Sequence[Point[MqttPoint]],
        context: DriverContext,
    ) -> None:
        super().__init__(device_id, settings, points, context)
        self.metrics = Metrics()
        self._log = context.log
        self._limiter = RateLimiter(60.0)
        self._skew_events = RateLimiter(SKEW_EVENT_INTERVAL)
        self._window = Window(settings.max_backfill, settings.max_future_skew, settings.late_after)
        self._router: Router[Route] = Router()
        filters: list[str] = []
        for point in self.points:
            if point.settings.topic is not None:
                flt = point.settings.topic
                self._router.add(flt, Route(flt, point.settings.extractor(), channel=point.channel))
                filters.append(flt)
        for sub in settings.subscriptions:
            self._router.add(sub.topic, Route(sub.topic, sub.extractor(), template=sub.template))
            filters.append(sub.topic)
        if settings.status_topic is not None:
            filters.append(settings.status_topic)
        if settings.watch_broker_drops:
            filters.append(BROKER_DROPPED_TOPIC)
        self.filters: list[str] = minimal_filters(filters)
        self._conn: Connection | None = None
        self._entering: asyncio.Task[Connection] | None = None
        self._refused: list[str] = []
        self.health = Health(device_id, settings, self.metrics, context.log)
        self._id_owner = self._claim_client_id()

    @classmethod
    def check(cls, settings: MqttSettings, points: Sequence[Point[MqttPoint]]) -> list[str]:
        messages = []
        subs = settings.subscriptions
        for point in points:
            p, channel = point.settings, point.channel
            givers = [s for s in subs if s.template.could_give(channel, s.topic)]
            if p.topic is None:
                if not givers:
                    hint = (
                        f" (subscriptions give {', '.join(s.channel for s in subs)})"
                        if subs
                        else ""
                    )
                    messages.append(
                        f"channel '{channel}': its source has no 'topic', and no entry of the "
                        f"device's 'subscriptions' can give this channel id{hint}"
                    )
                elif p.customised:
                    messages.append(
                        f"channel '{channel}' takes its value as subscription "
                        f"'{givers[0].topic}' says; {', '.join(p.customised)} belong there "
                        "(or give the channel its own 'topic')"
                    )
            elif not has_wildcard(p.topic):
                levels = p.topic.split("/")
                for s in givers:
                    if matches(s.topic, p.topic) and s.template.render(levels) == channel:
                        messages.append(
                            f"channel '{channel}' would get every message twice: from its "
                            f"own topic '{p.topic}' and from subscription '{s.topic}'; "
                            "remove one"
                        )
        return messages

    # --- lifecycle ------------------------------------------------------------------------

    async def connect(self) -> None:
        """A new client, connected and subscribed to every filter (on every connect)."""
        await self.close()
        if self._id_owner is not None:
            raise DriverError(
                f"client_id '{self.settings.client_id}' is also used by device "
                f"'{self._id_owner}' on {self.settings.where}; each device needs its own "
                "(the broker would keep dropping one of the two connections)"
            )
        try:
            password = self.settings.resolved_password()
            context = tls_context(self.settings.tls) if self.settings.tls else None
        except (ValueError, OSError, ssl.SSLError) as exc:
            raise DriverError(
                f"cannot set up the connection to {self.settings.where}: {exc}"
            ) from None
        conn = Connection(self.settings, password=password, tls_context=context)
        entering = asyncio.ensure_future(conn.__aenter__())
        self._conn, self._entering = conn, entering
        try:
            # shielded: if the coordinator's timeout cancels us, close() deals with a connect
            # still under way instead of leaving a half-open client behind
            await asyncio.shield(entering)
        except MqttError as exc:
            self._conn = self._entering = None
            raise DriverError(f"cannot connect to broker {self.settings.where}: {exc}") from None
        self.health.connected()
        try:
            await self._subscribe(conn)
        except MqttError as exc:
            raise DriverError(
                f"broker {self.settings.where} did not confirm the subscriptions: {exc}"
            ) from None

    async def _subscribe(self, conn: Connection) -> None:
        qos = self.settings.qos
        self._refused = []
        if not self.filters:
            return  # a device without channels yet: connected, nothing to hear
        wanted: list[tuple[str, int]] = [(f, qos) for f in self.filters]
        granted = await conn.subscribe(wanted)
        for flt, code in zip(self.filters, granted, strict=False):
            value = _granted(code)
            if value >= 0x80:
                self._refused.append(flt)
                self._log.error(
                    "mqtt device %s: broker %s refused the subscription to %s",
                    self.device_id,
                    self.settings.where,
                    flt,
                )
            elif value < qos and not flt.startswith("$SYS"):
                self._log.warning(
                    "mqtt device %s: broker granted QoS %d for %s (asked %d): messages may "
                    "be lost while coldwatch is disconnected",
                    self.device_id,
                    value,
                    flt,
                    qos,
                )

    async def close(self) -> None:
        """Disconnect; safe at any time, also while a cancelled connect is still under way."""
        conn, entering = self._conn, self._entering
        self._conn = self._entering = None
        if conn is None or entering is None:
            return
        if not entering.done():
            if conn.socket_open:
                # connected, waiting for the broker's CONNACK: stop the wait, hang up
                conn.give_up()
                await asyncio.wait([entering])
                if not entering.cancelled():
                    entering.exception()  # the MqttError give_up() caused: seen
            else:
                # paho's thread is still opening the TCP connection: hang up when it is done
                entering.add_done_callback(_abandon_when_connected(conn))
            return
        if entering.cancelled() or entering.exception() is not None:
            return
        with contextlib.suppress(MqttError):
            await conn.__aexit__(None, None, None)
        conn.forget_loss()

    def _claim_client_id(self) -> str | None:
        """The other device already using this broker + client id, if any."""
        if self.settings.client_id is None:
            return None
        owners: dict[tuple[str, int, str], str] = self.context.shared.setdefault(_CLIENT_IDS, {})
        key = (self.settings.host, self.settings.effective_port, self.settings.client_id)
        owner = owners.setdefault(key, self.device_id)
        return None if owner == self.device_id else owner

    # --- receiving ------------------------------------------------------------------------

    async def receive(self, sink: ReadingSink) -> None:
        conn = self._conn
        if conn is None:
            raise DriverError("receive() before connect()")
        self.health.refused(self._refused, sink)
        queue = conn.queue
        try:
            async for message in conn.messages:
                self._handle(message, sink, conn)
                for _ in range(min(queue.qsize(), BATCH)):
                    self._handle(queue.get_nowait(), sink, conn)
                self.health.overflow(queue, sink)
        except MqttError as exc:
            # what was already received is data: hand it on (a persistent session may
            # send it again after the reconnect; a duplicate beats a hole)
            while not queue.empty():
                self._handle(queue.get_nowait(), sink, conn)
            self.health.overflow(queue, sink, force=True)
            why = exc.__cause__ or exc  # aiomqtt chains the reason paho gave
            raise DriverError(f"connection to broker {self.settings.where} lost ({why})") from None

    def _handle(self, message: Message, sink: ReadingSink, conn: Connection) -> None:
        try:
            self._dispatch(message, sink)
        except Exception as exc:  # a bug must not turn one message into a reconnect loop
            self.metrics.inc("handler_errors")
            allowed, held = self._limiter.allow(f"bug:{message.topic.value}")
            if allowed:
                self._log.exception(
                    "mqtt device %s: topic %s: message not handled: %r (%d similar held back)",
                    self.device_id,
                    message.topic.value,
                    exc,
                    held,
                )
        finally:
            conn.ack(message)

    def _dispatch(self, message: Message, sink: ReadingSink) -> None:
        self.metrics.inc("messages")
        topic = message.topic.value
        if topic == self.settings.status_topic:
            self.health.status(topic, message.payload, sink)
            return
        if topic == BROKER_DROPPED_TOPIC and self.settings.watch_broker_drops:
            self.health.broker_dropped(message.payload, sink)
            return
        routes = self._router.match(topic)
        if not routes:
            self.metrics.inc("messages_unrouted")
            return
        if message.retain and not self.settings.accept_retained:
            self.metrics.inc("retained_ignored")
            return
        arrival = self.context.clock.now()
        levels = topic.split("/")
        if isinstance(message, Oversized):
            error = PayloadError(
                "too_large",
                f"payload of {message.size} bytes is larger than max_payload_bytes "
                f"{self.settings.max_payload_bytes}; rejected",
            )
            for route in routes:
                sink.reading(self._bad(route.channel_of(levels), topic, arrival, error))
            return
        payload = Payload(message.payload)
        for route in routes:
            sink.reading(
                self._reading(route, route.channel_of(levels), topic, payload, arrival, sink)
            )

    def _reading(
        self,
        route: Route,
        channel: str,
        topic: str,
        payload: Payload,
        arrival: datetime,
        sink: ReadingSink,
    ) -> Reading:
        extractor = route.extractor
        ts, flags = arrival, 0
        try:
            device_ts = extractor.timestamp(payload)
            if device_ts is not None:
                verdict = self._window.judge(device_ts, arrival)
                if not verdict.accepted:
                    return self._out_of_window(channel, topic, device_ts, arrival, verdict, sink)
                ts = device_ts
                if verdict.late:
                    flags = FLAG_LATE
                    self.metrics.inc("readings_late")
            value = extractor.value(payload)
        except PayloadError as exc:
            return self._bad(channel, topic, ts, exc)
        self.metrics.inc("readings")
        return Reading(channel, ts, value, Quality.GOOD, flags)

    def _bad(self, channel: str, topic: str, ts: datetime, exc: PayloadError) -> Reading:
        quality = Quality.SENSOR_FAULT if isinstance(exc, DeviceFault) else Quality.COMM_ERROR
        self.metrics.inc(f"bad_readings.{exc.kind}")
        allowed, held = self._limiter.allow(f"{exc.kind}:{topic}")
        if allowed:
            self._log.warning(
                "mqtt device %s: topic %s (channel %s): %s (%d similar held back)",
                self.device_id,
                topic,
                channel,
                exc,
                held,
                extra={"device": self.device_id, "topic": topic, "problem": exc.kind},
            )
        return Reading.bad(channel, ts, quality, str(exc))

    def _out_of_window(
        self,
        channel: str,
        topic: str,
        device_ts: datetime,
        arrival: datetime,
        verdict: Verdict,
        sink: ReadingSink,
    ) -> Reading:
        why = verdict.describe(self._window)
        detail = f"{why} ({device_ts.isoformat()}); value not used"
        reading = self._bad(
            channel, topic, arrival, PayloadError("timestamp_out_of_window", detail)
        )
        allowed, held = self._skew_events.allow(channel)
        if allowed:
            sink.event(
                "device_clock_skew",
                f"channel {channel}: {why}",
                {
                    "channel": channel,
                    "topic": topic,
                    "device_ts": device_ts.isoformat(),
                    "arrival": arrival.isoformat(),
                    "skew_s": round(-verdict.age, 3),
                    "similar_since_last_event": held,
                },
            )
        return reading


def _granted(code: object) -> int:
    """The granted QoS (>= 0x80: refused) from a SUBACK entry, an int or a ReasonCode."""
    if isinstance(code, int):
        return code
    return int(getattr(code, "value", 0x80))


def _abandon_when_connected(conn: Connection) -> Callable[[asyncio.Task[Connection]], None]:
    def done(task: asyncio.Task[Connection]) -> None:
        if task.cancelled() or task.exception() is not None:
            return
        conn.abandon()

    return done
