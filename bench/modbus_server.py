"""A Modbus TCP server in its own process, so that its CPU is not counted against the client.

Serves a Thermo-TSX-like register image to any number of connections until stdin closes.
"""

from __future__ import annotations

import asyncio
import sys

from pymodbus.server import ModbusTcpServer
from pymodbus.simulator import DataType, SimData, SimDevice

#: Holding registers 0x540.. : cabinet INT32 (/10), TC2 FLOAT32, TC3 FLOAT32, status word.
BASE = 0x540
IMAGE = [0xFFFF, 0xFCE0, 0xC2A0, 0x0000, 0xC2A1, 0x0000, 0x0002]


async def serve(port: int) -> None:
    bits = [SimData(0xFFF0, values=[False] * 16, datatype=DataType.BITS)]
    holding = [SimData(BASE, values=list(IMAGE), datatype=DataType.REGISTERS)]
    unused = [SimData(0xFFFF, count=1, datatype=DataType.INVALID)]
    device = SimDevice(id=1, simdata=(bits, bits, holding, unused))
    server = ModbusTcpServer([device], address=("127.0.0.1", port))
    await server.serve_forever(background=True)
    print("ready", flush=True)
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, sys.stdin.read)
    await server.shutdown()


if __name__ == "__main__":
    asyncio.run(serve(int(sys.argv[1])))
