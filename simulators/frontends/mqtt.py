"""A device that publishes its state as JSON to an MQTT broker, with a status topic and a will.

Topics, under ``<topic_prefix>/<device id>/``:

* ``state``: every ``interval`` clock seconds, ``{"ts": <epoch ms>, "<output>": value, ...}``
  with every model output; the primary temperature is ``null`` while the probe is broken.
* ``status``: ``online`` (retained) once connected; ``offline`` (retained) under
  ``comm_drop`` and on a clean stop; also the connection's last will, so a killed
  simulator or a lost connection shows ``offline`` too.
* ``event``: the model's events as JSON (``kind``, ``message``, simulated ``at_s``).

Under ``comm_drop`` nothing but the ``offline`` status is published. A lost broker is
retried every few seconds; the simulator itself never stops for it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
from collections import deque
from typing import Any

import aiomqtt

from simulators.bindings import Role
from simulators.config import MqttFrontEnd
from simulators.device import SimDevice
from simulators.frontends.base import Environment, FrontEnd, Reader, channel
from simulators.models import Event
from simulators.outputs import info, outputs_of

log = logging.getLogger(__name__)

RETRY_S = 2.0
PUBLISH_TIMEOUT_S = 5.0


class MqttPublisher(FrontEnd):
    type = "mqtt"

    def __init__(self, device: SimDevice, env: Environment, settings: MqttFrontEnd) -> None:
        super().__init__(device, env)
        self.settings = settings
        base = f"{settings.topic_prefix}/{device.id}"
        self.state_topic = f"{base}/state"
        self.status_topic = f"{base}/status"
        self.event_topic = f"{base}/event"
        self.client_id = settings.client_id or f"coldwatch-sim-{device.id}"
        self.messages_sent = 0
        self.connected = asyncio.Event()
        self._client: aiomqtt.Client | None = None
        self._events: deque[Event] = deque(maxlen=100)
        self._online: bool | None = None
        self._task: asyncio.Task[None] | None = None
        device.subscribe(self._events.extend)

    @classmethod
    def roles(cls, settings: Any) -> tuple[Role, ...]:
        return ()

    def payload(self) -> bytes:
        """The state message as it would be published now."""
        model = self.device.model
        values: dict[str, Any] = dict(model.values())
        if "sensor_open_circuit" in model.faults:
            values[model.primary_output] = None
        for key, value in values.items():
            if isinstance(value, float) and not math.isfinite(value):
                values[key] = None
        ts = int(self.env.clock.now().timestamp() * 1000)
        return json.dumps({"ts": ts, **values}, separators=(",", ":")).encode()

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"sim-mqtt-{self.device.id}")

    async def stop(self) -> None:
        client = self._client
        if client is not None:
            with contextlib.suppress(aiomqtt.MqttError, TimeoutError):
                async with asyncio.timeout(1.0):
                    await client.publish(self.status_topic, "offline", qos=1, retain=True)
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run(self) -> None:
        clock = self.env.clock
        while self._task is asyncio.current_task():
            try:
                await self._session()
            except (aiomqtt.MqttError, TimeoutError, OSError) as exc:
                log.warning(
                    "simulated device %s: MQTT broker %s:%s: %s; retrying",
                    self.device.id,
                    self.env.broker_host,
                    self.env.broker_port,
                    exc,
                )
            self._client = None
            self.connected.clear()
            await clock.sleep_until(clock.monotonic() + RETRY_S)

    async def _session(self) -> None:
        will = aiomqtt.Will(self.status_topic, "offline", qos=1, retain=True)
        async with aiomqtt.Client(
            self.env.broker_host,
            self.env.broker_port,
            identifier=self.client_id,
            will=will,
            clean_session=True,
            keepalive=10,
            timeout=PUBLISH_TIMEOUT_S,
        ) as client:
            self._client = client
            self._online = None
            self.connected.set()
            clock, interval = self.env.clock, self.settings.interval
            due = clock.monotonic()
            while self._task is asyncio.current_task():
                await self._publish_once(client)
                due += interval
                if due < clock.monotonic() - interval:
                    due = clock.monotonic()
                await clock.sleep_until(due)

    async def _publish_once(self, client: aiomqtt.Client) -> None:
        answering = self.device.answering
        async with asyncio.timeout(PUBLISH_TIMEOUT_S):
            if answering != self._online:
                status = "online" if answering else "offline"
                await client.publish(self.status_topic, status, qos=1, retain=True)
                self._online = answering
            if not answering:
                return
            while self._events:
                e = self._events.popleft()
                body = {"kind": e.kind, "message": e.message, "at_s": e.at_s}
                await client.publish(self.event_topic, json.dumps(body), qos=self.settings.qos)
            await client.publish(self.state_topic, self.payload(), qos=self.settings.qos)
            self.messages_sent += 1

    def describe(self) -> str:
        return (
            f"MQTT JSON on {self.env.broker_host}:{self.env.broker_port} topic "
            f"{self.state_topic} every {self.settings.interval:g} s (status {self.status_topic})"
        )

    def coldwatch(self, interval: float) -> Reader:
        publish = self.settings.interval
        # the device interval is also what bounds a connect: at least a second for that
        every = max(publish, 1.0)
        device = {
            "id": self.device.id,
            "driver": "mqtt",
            "interval": every,
            "timeout": round(min(0.8 * every, 5.0), 3),
            "backoff": {"initial": every, "max": max(every, 5.0)},
            "settings": {
                "host": self.env.broker_host,
                "port": self.env.broker_port,
                "client_id": f"coldwatch-{self.device.id}",
                "status_topic": self.status_topic,
                "qos": 1,
            },
        }
        channels = []
        for output in outputs_of(self.device.kind):
            meaning = info(output)
            if not meaning.channel:
                continue
            source: dict[str, Any] = {
                "device": self.device.id,
                "topic": self.state_topic,
                "field": output,
                "timestamp_field": "ts",
                "timestamp_format": "epoch_ms",
            }
            if meaning.text:
                source["type"] = "text"
            channels.append(
                channel(
                    output,
                    meaning.quantity,
                    meaning.unit,
                    source,
                    stale_after=round(2.5 * publish, 3),
                )
            )
        return Reader(device, channels)
