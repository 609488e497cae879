"""The Modbus application layer a simulated device speaks: reads of a register image.

Function codes 03 (holding) and 04 (input) read the same image, as many devices answer
both; 01/02 (bits) answer "illegal data address" since the maps have no coils; anything
else answers "illegal function". A read that touches a register the map does not define
answers "illegal data address", as a real device does: coldwatch's default of not merging
across gaps (``merge_gap: 0``) is exactly for such devices.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Mapping

ILLEGAL_FUNCTION = 1
ILLEGAL_DATA_ADDRESS = 2
ILLEGAL_DATA_VALUE = 3
GATEWAY_TARGET_FAILED = 11

#: The register image: address -> 16-bit word, computed when a request arrives.
Image = Callable[[], Mapping[int, int]]


def exception(function: int, code: int) -> bytes:
    return bytes([function | 0x80, code])


def answer(pdu: bytes, image: Image) -> bytes:
    """The response PDU to a request PDU."""
    if not pdu:
        return exception(0, ILLEGAL_FUNCTION)
    function = pdu[0]
    if function in (3, 4):
        if len(pdu) != 5:
            return exception(function, ILLEGAL_DATA_VALUE)
        address, count = struct.unpack(">HH", pdu[1:5])
        if not 1 <= count <= 125:
            return exception(function, ILLEGAL_DATA_VALUE)
        registers = image()
        words = [registers.get(a) for a in range(address, address + count)]
        if any(w is None for w in words):
            return exception(function, ILLEGAL_DATA_ADDRESS)
        return bytes([function, 2 * count]) + struct.pack(f">{count}H", *words)
    if function in (1, 2):
        if len(pdu) != 5:
            return exception(function, ILLEGAL_DATA_VALUE)
        _, count = struct.unpack(">HH", pdu[1:5])
        if not 1 <= count <= 2000:
            return exception(function, ILLEGAL_DATA_VALUE)
        return exception(function, ILLEGAL_DATA_ADDRESS)
    return exception(function, ILLEGAL_FUNCTION)
