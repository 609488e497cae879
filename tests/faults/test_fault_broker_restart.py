"""Fault: the MQTT broker is restarted under a flood, coldwatch keeping its persistent session.

As in the SIGTERM fault (a real Mosquitto with persistence, the daemon on a persistent session
with QoS 1, a numbered QoS 1 flood), but this time the broker goes: it is stopped cleanly (its
persistence file written) and, once the daemon has noticed, started again on the same port and
files, while the daemon runs and the publisher keeps publishing (paho queues meanwhile). The
daemon reconnects to its session and the publisher resends what the broker never acknowledged;
every acknowledged number must be stored.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.faults.fault_daemon import Daemons
from tests.faults.fault_flood import flood_config, flood_result, flood_through
from tests.faults.fault_report import FaultResult

RATE = 2000.0
LOST = "connection to broker"
"""What the daemon logs when the broker goes: the broker comes back only after that."""


@pytest.mark.timeout(120)
async def test_broker_restart_with_persistent_session(
    tmp_path: Path,
    mqtt_broker: Any,
    daemons: Callable[[Path], Daemons],
    fault_report: Callable[[FaultResult], None],
) -> None:
    host, port = mqtt_broker.host, mqtt_broker.port
    run = daemons(flood_config(tmp_path, host, port))

    async def restart_broker() -> None:
        await mqtt_broker.stop()
        await run.until("the daemon losing the broker", lambda: LOST in run.log_text() or None)
        await mqtt_broker.start()

    flood = await flood_through(run, host, port, restart_broker, rate=RATE, before=1, after=3)
    result = flood_result(
        "broker restart with a persistent session", flood, run, "the broker was away"
    )
    fault_report(result)
    assert len(run.started) == 1, "the daemon ran on through the broker's restart"
