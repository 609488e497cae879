"""An MQTT flood with a receipt: numbered QoS 1 messages, and which of them the broker took.

:class:`NumberedPublisher` publishes ``1``, ``2``, ``3``... to one topic at a steady rate from
a thread of its own (paho-mqtt, its network loop in a second thread), with a persistent
session of its own, so that it rides out a broker restart: paho reconnects and sends again
what was not acknowledged. A number counts as published only when the broker's PUBACK for it
arrived (paho's ``on_publish``): from then on the broker owes it to every
subscriber's session, and coldwatch must store it.

:func:`mqtt_sections` is the configuration of a daemon that reads the flood: one device with
a persistent session and QoS 1, as docs/drivers.md tells a site to set it up.
"""

from __future__ import annotations

import threading
import time
from typing import Any, Final

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

TOPIC: Final = "faults/flood"
CHANNEL: Final = "flood.counter"
CLIENT_ID: Final = "coldwatch-faults"
MAX_MESSAGES: Final = 60_000
"""paho numbers messages 1..65535 and then starts again: the publisher stops before that."""
PROBE: Final = 0
"""The number published before the flood, until the daemon has stored it: then its
persistent session exists on the broker and queues everything after."""


def mqtt_sections(host: str, port: int) -> dict[str, Any]:
    """Devices and locations: the flood's topic feeds one channel (the number is its value)."""
    return {
        "devices": [
            {
                "id": "broker",
                "driver": "mqtt",
                "interval": "5s",
                "timeout": "2s",
                "backoff": {"initial": "200ms", "max": "1s"},
                "settings": {
                    "host": host,
                    "port": port,
                    "client_id": CLIENT_ID,
                    "clean_session": False,
                    "qos": 1,
                },
            }
        ],
        "locations": [
            {
                "id": "lab",
                "equipment": [
                    {
                        "id": "flood",
                        "kind": "other",
                        "name": "Numbered publisher",
                        "channels": [
                            {
                                "id": "counter",
                                "quantity": "other",
                                "unit": "",
                                "source": {"device": "broker", "topic": TOPIC},
                            }
                        ],
                    }
                ],
            }
        ],
    }


class NumberedPublisher:
    """Publishes 1, 2, 3... at ``rate`` a second from :meth:`flood` until :meth:`stop`."""

    def __init__(self, host: str, port: int, *, rate: float) -> None:
        self.rate = rate
        self._next = PROBE + 1
        self._sent: list[tuple[int, int]] = []
        """(number, message id), in the order published."""
        self._acked: set[int] = set()
        """Message ids the broker acknowledged (ids are not reused below 65535 messages)."""
        self._stop = threading.Event()
        self._client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id="fault-publisher", clean_session=False
        )
        self._client.on_publish = self._on_puback
        self._client.max_inflight_messages_set(100)
        self._client.reconnect_delay_set(1, 1)
        self._address = (host, port)
        self._thread = threading.Thread(target=self._publish, name="fault-publisher")

    def _on_puback(self, client: Any, userdata: Any, mid: int, *_: Any) -> None:
        self._acked.add(mid)  # paho's network thread, on the PUBACK (QoS 1)

    def connect(self) -> None:
        """Connect (blocking: call it in a thread) and start paho's network loop."""
        self._client.connect(*self._address, keepalive=10)
        self._client.loop_start()

    def flood(self) -> None:
        """Start publishing the numbers."""
        self._thread.start()

    @property
    def published(self) -> int:
        """Numbers of the flood handed to the client so far (sent, or queued while
        disconnected)."""
        return len(self._sent)

    def probe(self) -> None:
        """Publish :data:`PROBE` (not one of the flood's numbers)."""
        self._client.publish(TOPIC, str(PROBE), qos=1)

    def _publish_one(self, number: int) -> None:
        info = self._client.publish(TOPIC, str(number), qos=1)
        self._sent.append((number, info.mid))

    def _publish(self) -> None:
        tick = 0.01
        batch = max(1, round(self.rate * tick))
        started = time.monotonic()
        published = 0
        while not self._stop.is_set() and len(self._sent) < MAX_MESSAGES:
            for _ in range(batch):
                self._publish_one(self._next)
                self._next += 1
            published += batch
            pause = started + published / self.rate - time.monotonic()
            if pause > 0:
                self._stop.wait(pause)

    def stop(self, settle: float = 15.0) -> None:
        """Stop publishing; wait (at most ``settle`` s) for the broker's outstanding acks."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()
        try:
            deadline = time.monotonic() + settle
            while time.monotonic() < deadline and not self._all_acked():
                time.sleep(0.05)
        finally:
            self._client.disconnect()
            self._client.loop_stop()

    def _all_acked(self) -> bool:
        return all(mid in self._acked for _, mid in self._sent)

    def acknowledged(self) -> set[int]:
        """The numbers the broker acknowledged (PUBACK)."""
        return {number for number, mid in self._sent if mid in self._acked}
