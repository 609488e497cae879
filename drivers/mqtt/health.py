"""What the device and the broker say about themselves, turned into availability and events.

* the device's status topic (its gateway's last will): ``online`` / ``offline`` ->
  availability, reported on change only;
* the broker's ``$SYS/broker/publish/messages/dropped``: an increase -> an event, because
  the broker lost messages that may have been readings;
* our own receive queue overflowing, and subscriptions the broker refused -> events, so the
  record says that data was lost or will not come.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from drivers.base import ReadingSink
from drivers.mqtt.client import ReceiveQueue
from drivers.mqtt.config import BROKER_DROPPED_TOPIC, MqttSettings
from monitor.core.logs import RateLimiter
from monitor.core.metrics import Metrics

#: At most one receive-queue overflow event per this many seconds (the count accumulates).
OVERFLOW_EVENT_INTERVAL = 10.0


class Health:
    def __init__(
        self, device_id: str, settings: MqttSettings, metrics: Metrics, log: logging.Logger
    ) -> None:
        self.device_id = device_id
        self.settings = settings
        self.metrics = metrics
        self.log = log
        self._limiter = RateLimiter(60.0)
        self._overflow_events = RateLimiter(OVERFLOW_EVENT_INTERVAL)
        self._status: bool | None = None
        self._broker_dropped: int | None = None  # kept across reconnects
        self._overflow_reported = 0

    def connected(self) -> None:
        """A new connection: the retained status comes again, the queue is a new one."""
        self._status = None
        self._overflow_reported = 0

    def refused(self, filters: Sequence[str], sink: ReadingSink) -> None:
        for flt in filters:
            sink.event(
                "subscription_refused",
                f"broker {self.settings.where} refused the subscription to {flt}: its "
                "channels will get no data",
                {"topic": flt},
            )

    def status(self, topic: str, raw: bytes, sink: ReadingSink) -> None:
        try:
            text = raw.decode("utf-8").strip()
        except UnicodeDecodeError:
            text = repr(raw[:40])
        if text == self.settings.status_online:
            online = True
        elif text == self.settings.status_offline:
            online = False
        else:
            self.metrics.inc("status_unknown" if text else "status_cleared")
            allowed, held = self._limiter.allow(f"status:{topic}")
            if allowed and text:
                self.log.warning(
                    "mqtt device %s: status topic %s says %r, which is neither %r nor %r; "
                    "ignored (%d similar held back)",
                    self.device_id,
                    topic,
                    text[:40],
                    self.settings.status_online,
                    self.settings.status_offline,
                    held,
                )
            return
        if online is self._status:
            return
        self._status = online
        sink.availability(online, f"status topic {topic} says {text}")

    def broker_dropped(self, raw: bytes, sink: ReadingSink) -> None:
        try:
            total = int(raw.decode("ascii").strip())
        except (UnicodeDecodeError, ValueError):
            self.metrics.inc("broker_dropped_unreadable")
            return
        last, self._broker_dropped = self._broker_dropped, total
        if last is not None and total <= last:
            return  # no change, or the broker restarted and counts from 0 again
        if last is None:
            if total == 0:
                return
            delta, message = (
                total,
                f"broker {self.settings.where} has dropped {total} messages since it started "
                "(some may have been for coldwatch)",
            )
        else:
            delta, message = (
                total - last,
                f"broker {self.settings.where} dropped {total - last} messages "
                f"(queue or inflight limits; {total} since it started): readings may be lost",
            )
        self.metrics.inc("broker_dropped", delta)
        self.log.warning("mqtt device %s: %s", self.device_id, message)
        sink.event(
            "broker_dropped_messages",
            message,
            {"dropped": delta, "total": total, "topic": BROKER_DROPPED_TOPIC},
        )

    def overflow(self, queue: ReceiveQueue, sink: ReadingSink, force: bool = False) -> None:
        """Report what the receive queue dropped since the last report (rate-limited)."""
        lost = queue.overflowed - self._overflow_reported
        if lost <= 0:
            return
        if not force:
            allowed, _ = self._overflow_events.allow("overflow")
            if not allowed:
                return
        self._overflow_reported = queue.overflowed
        topics = dict(queue.dropped_topics.most_common(10))
        queue.dropped_topics.clear()
        self.metrics.inc("queue_overflow", lost)
        message = (
            f"{lost} messages dropped: more arrived than the receive queue holds "
            f"(max_queued_incoming_messages {self.settings.max_queued_incoming_messages}, "
            f"max_queued_incoming_bytes {self.settings.max_queued_incoming_bytes})"
        )
        self.log.warning("mqtt device %s: %s; topics %s", self.device_id, message, topics)
        sink.event("receive_queue_overflow", message, {"dropped": lost, "topics": topics})
