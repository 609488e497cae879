"""Fault: SIGTERM under an MQTT flood, the flood going on while the daemon is away.

A real Mosquitto (persistence, the queue settings docs/drivers.md gives) and the daemon
subscribed with a persistent session and QoS 1. A publisher floods numbered QoS 1 messages;
mid-flood the daemon gets SIGTERM, the publishing goes on, and the daemon is started again:
the broker queued the flood for its session. Every number the broker acknowledged to the
publisher must be stored; numbers stored twice are the documented at-least-once duplicates.
"""

from __future__ import annotations

import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.faults.fault_daemon import Daemons
from tests.faults.fault_flood import flood_config, flood_result, flood_through
from tests.faults.fault_report import FaultResult

RATE = 2000.0


@pytest.mark.timeout(120)
async def test_sigterm_under_mqtt_flood(
    tmp_path: Path,
    mqtt_broker: Any,
    daemons: Callable[[Path], Daemons],
    fault_report: Callable[[FaultResult], None],
) -> None:
    host, port = mqtt_broker.host, mqtt_broker.port
    run = daemons(flood_config(tmp_path, host, port))
    exits: list[int] = []

    async def sigterm_and_restart() -> None:
        exits.append(await run.started[-1].stop(signal.SIGTERM))
        run.start()

    flood = await flood_through(run, host, port, sigterm_and_restart, rate=RATE, before=1, after=3)
    fault_report(flood_result("SIGTERM under an MQTT flood", flood, run, "it was away"))
    assert exits == [0]
