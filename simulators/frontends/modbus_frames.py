"""Modbus framing on a byte stream: TCP (MBAP header), RTU (CRC, frames end in silence) and
ASCII (``:`` hex LRC CR LF). One session per connection, as :class:`lines.Session`.

A session checks the unit id, hands the PDU to the application layer and frames the answer.
While the device does not answer (``comm_drop``) every request is read and dropped: the
client sees a timeout, as with a dead unit on a live bus.
"""

from __future__ import annotations

import binascii
import struct
import time
from collections.abc import Callable

from simulators.frontends.modbus_pdu import GATEWAY_TARGET_FAILED, exception

#: PDU in, PDU out.
Application = Callable[[bytes], bytes]
Answering = Callable[[], bool]

#: Silence that ends an RTU frame. The standard's 3.5 characters is under 4 ms at 9600 baud;
#: a pty or a socket delivers a request in one piece, so a generous value only resynchronises
#: after garbage.
RTU_SILENCE_S = 0.05
#: Longest RTU/ASCII frame kept while waiting for its end.
MAX_FRAME = 513

# Request lengths by function code (RTU: address + PDU + CRC); writes of many values say
# their length in byte 6.
_FIXED_RTU_LENGTH = {1: 8, 2: 8, 3: 8, 4: 8, 5: 8, 6: 8}


def crc16(data: bytes) -> int:
    """Modbus RTU CRC-16 (polynomial 0xA001, initial 0xFFFF)."""
    crc = 0xFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
    return crc


def with_crc(frame: bytes) -> bytes:
    return frame + struct.pack("<H", crc16(frame))


def lrc(data: bytes) -> int:
    """Modbus ASCII longitudinal redundancy check: two's complement of the byte sum."""
    return (-sum(data)) & 0xFF


class _Session:
    def __init__(self, unit: int, application: Application, answering: Answering) -> None:
        self.unit = unit
        self.application = application
        self.answering = answering
        self.buffer = bytearray()


class TcpSession(_Session):
    """Modbus TCP: a 7-byte MBAP header (transaction, protocol 0, length, unit) + PDU."""

    def feed(self, data: bytes) -> bytes:
        self.buffer += data
        out = bytearray()
        while len(self.buffer) >= 7:
            transaction, protocol, length, unit = struct.unpack(">HHHB", self.buffer[:7])
            if protocol != 0 or not 2 <= length <= 254:
                self.buffer.clear()  # not Modbus TCP: drop it all
                break
            if len(self.buffer) < 6 + length:
                break
            pdu = bytes(self.buffer[7 : 6 + length])
            del self.buffer[: 6 + length]
            if not self.answering():
                continue
            if unit != self.unit:
                reply = exception(pdu[0], GATEWAY_TARGET_FAILED)
            else:
                reply = self.application(pdu)
            out += struct.pack(">HHHB", transaction, 0, len(reply) + 1, unit) + reply
        return bytes(out)


class RtuSession(_Session):
    """Modbus RTU: address, PDU, CRC-16; a frame ends with silence on the line."""

    def __init__(self, unit: int, application: Application, answering: Answering) -> None:
        super().__init__(unit, application, answering)
        self._last = 0.0

    def feed(self, data: bytes) -> bytes:
        now = time.monotonic()
        if self.buffer and now - self._last > RTU_SILENCE_S:
            self.buffer.clear()  # a silence ended whatever came before: resynchronise
        self._last = now
        self.buffer += data
        out = bytearray()
        while True:
            frame = self._take_frame()
            if frame is None:
                break
            out += self._reply(frame)
        if len(self.buffer) > MAX_FRAME:
            self.buffer.clear()
        return bytes(out)

    def _take_frame(self) -> bytes | None:
        buf = self.buffer
        if len(buf) < 4:
            return None
        length = _FIXED_RTU_LENGTH.get(buf[1])
        if length is None and buf[1] in (15, 16):
            if len(buf) < 7:
                return None
            length = 9 + buf[6]
        if length is None:  # unknown function: the first length with a valid CRC
            length = next((n for n in range(4, len(buf) + 1) if _crc_ok(bytes(buf[:n]))), None)
            if length is None:
                return None
        if len(buf) < length:
            return None
        frame = bytes(buf[:length])
        del buf[:length]
        if not _crc_ok(frame):
            buf.clear()  # a garbled frame is ignored, as on a real bus
            return b""
        return frame

    def _reply(self, frame: bytes) -> bytes:
        if not frame or frame[0] != self.unit or not self.answering():
            return b""  # another unit's frame, a broadcast, or a silent device
        reply = self.application(frame[1:-2])
        return with_crc(bytes([self.unit]) + reply)


def _crc_ok(frame: bytes) -> bool:
    return len(frame) >= 4 and struct.pack("<H", crc16(frame[:-2])) == frame[-2:]


class AsciiSession(_Session):
    """Modbus ASCII: ``:`` then address, PDU and LRC in hex, then CR LF."""

    def feed(self, data: bytes) -> bytes:
        self.buffer += data
        out = bytearray()
        while True:
            start = self.buffer.find(b":")
            if start < 0:
                self.buffer.clear()
                break
            del self.buffer[:start]
            end = self.buffer.find(b"\n")
            if end < 0:
                if len(self.buffer) > MAX_FRAME:
                    self.buffer.clear()
                break
            line = bytes(self.buffer[1:end]).rstrip(b"\r")
            del self.buffer[: end + 1]
            out += self._reply(line)
        return bytes(out)

    def _reply(self, hex_text: bytes) -> bytes:
        try:
            raw = binascii.unhexlify(hex_text)
        except (binascii.Error, ValueError):
            return b""
        if len(raw) < 3 or lrc(raw[:-1]) != raw[-1]:
            return b""
        if raw[0] != self.unit or not self.answering():
            return b""
        body = bytes([self.unit]) + self.application(raw[1:-1])
        return b":" + binascii.hexlify(body + bytes([lrc(body)])).upper() + b"\r\n"
