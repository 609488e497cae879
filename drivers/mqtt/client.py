"""The aiomqtt client as the driver needs it: manual acknowledgements and a bounded queue.

* **Manual acks.** paho normally acknowledges a QoS 1/2 message as soon as it has read it,
  so a message waiting in the client's queue when coldwatch stops is lost even with a
  persistent session. Here a message is acknowledged only after the driver has handed its
  readings on; anything unacknowledged is sent again by the broker on the next connect. It
  also gives flow control: the broker sends at most its ``max_inflight_messages`` QoS 1
  messages ahead of our acks and holds the rest in the session's queue.
* **Reads in bursts.** aiomqtt's reader callback makes paho read one packet per event-loop
  wake-up; here each wake-up reads on while packets keep coming (up to ``READ_BURST``),
  which roughly halves the cost per message. paho's own debug logging is off for the same
  reason (two log calls per message); connection errors still surface as exceptions.
* **A bounded queue.** At most ``max_queued_incoming_messages`` messages and
  ``max_queued_incoming_bytes`` payload bytes wait; a payload over ``max_payload_bytes`` is
  replaced by an :class:`Oversized` stub at once (so its bytes are not kept). What does not
  fit is acknowledged (so that the broker does not stall on it), dropped and counted.
* **Write registration that cannot outlive its socket.** A packet queued on the loop's
  thread (an acknowledgement) registers the socket for writing there and then, not in a
  deferred call that a dropped connection can overtake (see ``_register_write``).

This module is the only one that touches aiomqtt internals (the paho client ``_client``,
``_queue``, the ``_connected`` / ``_disconnected`` futures) and patches paho's ``loop_read``;
it is written against aiomqtt 2.x on paho-mqtt 2.x, which is why both are pinned below 3.
"""

from __future__ import annotations

import asyncio
import ssl
from collections import Counter
from collections.abc import Callable
from typing import Any

import aiomqtt
from aiomqtt import Message
from paho.mqtt.enums import MQTTErrorCode

from drivers.mqtt.config import MqttSettings, TlsSettings

#: Packets paho may read in one reader wake-up before the event loop gets a turn.
READ_BURST = 64
#: Distinct topics remembered for the overflow report; the rest are counted as "other".
MAX_DROPPED_TOPICS = 50


class Oversized(Message):
    """Stands for a message whose payload was too large to keep: only its size is left."""

    def __init__(self, message: Message, size: int) -> None:
        super().__init__(
            message.topic, b"", message.qos, message.retain, message.mid, message.properties
        )
        self.size = size


class ReceiveQueue(asyncio.Queue[Message]):
    """aiomqtt's incoming queue with a byte budget, a payload cap and drop accounting.

    ``put_nowait`` runs in paho's read callback on the event loop; it never raises (aiomqtt
    would log every refused message), it counts instead.
    """

    def __init__(self, maxsize: int = 0) -> None:
        super().__init__(maxsize)
        self.max_bytes = 0  # 0: no byte budget until configure()
        self.max_payload = 0
        self.bytes = 0
        self.overflowed = 0
        self.arrived = 0
        self.dropped_topics: Counter[str] = Counter()
        self.ack: Callable[[Message], None] | None = None

    def configure(self, max_bytes: int, max_payload: int, ack: Callable[[Message], None]) -> None:
        self.max_bytes = max_bytes
        self.max_payload = max_payload
        self.ack = ack

    def put_nowait(self, item: Message) -> None:
        self.arrived += 1
        size = len(item.payload)
        if self.max_payload and size > self.max_payload:
            item, size = Oversized(item, size), 0
        if self.full() or (self.max_bytes and self.bytes + size > self.max_bytes):
            self.overflowed += 1
            topic = item.topic.value
            if topic in self.dropped_topics or len(self.dropped_topics) < MAX_DROPPED_TOPICS:
                self.dropped_topics[topic] += 1
            else:
                self.dropped_topics["(other topics)"] += 1
            if self.ack is not None:
                self.ack(item)  # release the broker's inflight slot; the loss is counted
            return
        super().put_nowait(item)

    def _put(self, item: Message) -> None:
        super()._put(item)
        self.bytes += len(item.payload)

    def _get(self) -> Message:
        item: Message = super()._get()
        self.bytes -= len(item.payload)
        return item


class Connection(aiomqtt.Client):
    """One connection attempt's client (a new one per connect, so no state leaks over)."""

    def __init__(
        self,
        settings: MqttSettings,
        *,
        password: str | None,
        tls_context: ssl.SSLContext | None,
        timeout: float = 10.0,
    ) -> None:
        super().__init__(
            settings.host,
            settings.effective_port,
            username=settings.username,
            password=password,
            identifier=settings.client_id,
            queue_type=ReceiveQueue,
            clean_session=settings.clean_session,
            keepalive=int(settings.keepalive),
            timeout=timeout,
            max_queued_incoming_messages=settings.max_queued_incoming_messages,
            tls_context=tls_context,
        )
        queue = self._queue
        assert isinstance(queue, ReceiveQueue)
        queue.configure(settings.max_queued_incoming_bytes, settings.max_payload_bytes, self.ack)
        self.queue = queue
        paho = self._client
        paho.manual_ack_set(True)
        paho.disable_logger()
        read_one = paho.loop_read

        def read_burst(max_packets: int = 1) -> MQTTErrorCode:
            # read on while each call brings a message (a call without one found the
            # socket empty, or read a control packet: either way the loop gets a turn)
            rc = read_one(max_packets)
            for _ in range(READ_BURST - 1):
                arrived = queue.arrived
                if rc != MQTTErrorCode.MQTT_ERR_SUCCESS or paho.socket() is None:
                    break
                rc = read_one(max_packets)
                if queue.arrived == arrived:
                    break
            return rc

        paho.loop_read = read_burst  # type: ignore[method-assign]
        paho.on_socket_register_write = self._register_write

    def _register_write(self, client: Any, userdata: Any, sock: Any) -> None:
        """Watch ``sock`` for room to write paho's queued packets.

        aiomqtt defers this ``add_writer`` with ``call_soon_threadsafe`` even on the loop's own
        thread, with the descriptor number taken at once. When the connection drops before the
        deferred call runs (a broker restart while we acknowledge), it registered a closed
        descriptor (an "Exception in callback" traceback) or, once the number was reused, another
        socket, whose writability then ran this dead client's writes. Here it is registered at
        once on the loop's thread; from paho's connect in an executor thread it is deferred and
        then registered only if ``sock`` is still this client's open socket."""

        def write() -> None:
            try:
                client.loop_write()
            except Exception as exc:  # a broken connection: aiomqtt's receive ends with it
                if not self._disconnected.done():
                    self._disconnected.set_exception(exc)

        def register() -> None:
            if client.socket() is sock and sock.fileno() != -1:
                self._loop.add_writer(sock.fileno(), write)

        if _running_loop() is self._loop:
            register()
        else:
            self._loop.call_soon_threadsafe(register)

    def ack(self, message: Message) -> None:
        """Acknowledge a QoS 1/2 message once its readings are handed on (no-op for QoS 0,
        and harmless once the connection is gone: the broker then sends it again)."""
        if message.qos:
            self._client.ack(message.mid, message.qos)

    @property
    def socket_open(self) -> bool:
        return self._client.socket() is not None

    def forget_loss(self) -> None:
        """Mark a lost connection's error as seen: it was reported (or the client closed),
        and asyncio would otherwise log "Future exception was never retrieved"."""
        lost = self._disconnected
        if lost.done() and not lost.cancelled():
            lost.exception()

    def give_up(self) -> None:
        """End a connect that is waiting for the broker's CONNACK: the pending
        ``__aenter__`` raises MqttError (and releases its lock), and we hang up."""
        if not self._connected.done():
            self._connected.set_exception(aiomqtt.MqttError("connect abandoned"))
        self._client.disconnect()

    def abandon(self) -> None:
        """Disconnect a client whose connect finished after nobody wanted it any more, so
        that it does not hold the persistent session (and acknowledge nothing) in the dark.
        Synchronous: paho sends DISCONNECT and closes the socket from its own callbacks."""
        self._client.disconnect()


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:  # a thread without a loop: paho's connect in an executor
        return None


def tls_context(tls: TlsSettings) -> ssl.SSLContext:
    """A verifying client context (system CAs unless ``ca_file``), or an explicitly
    insecure one."""
    context = ssl.create_default_context(cafile=tls.ca_file)
    if tls.cert_file is not None:
        context.load_cert_chain(tls.cert_file, tls.key_file)
    if tls.insecure:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context
