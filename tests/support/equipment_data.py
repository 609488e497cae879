"""A store holding what an equipment chart reads: configuration versions made from
``config/alarms-example.yaml`` (freezer-07, polled every 10 s, its ``warm`` rule's high limit
set per version), readings of ``freezer-07.cabinet_temp`` with holes and bad samples, and an
alarm period in the alarm history."""

from __future__ import annotations

import copy
import hashlib
import json
from datetime import datetime, timedelta
from functools import cache
from typing import Any

from monitor.app.config import load
from monitor.core.model import Quality, Reading
from monitor.store.base import AlarmRecord
from monitor.store.sqlite import SQLiteStore
from tests.support.paths import REPO

UNIT = "freezer-07"
CHANNEL = "freezer-07.cabinet_temp"
WARM = "freezer-07.cabinet_temp/warm"


@cache
def _example() -> str:
    return json.dumps(load(REPO / "config" / "alarms-example.yaml", secrets=False).effective)


def effective(high: float, serial: str = "TSX-0042") -> dict[str, Any]:
    """The example's effective configuration with the warm rule's high limit at ``high``."""
    data: dict[str, Any] = copy.deepcopy(json.loads(_example()))
    data["alarms"]["equipment"][UNIT]["rules"]["warm"]["high"] = high
    freezer = data["locations"][0]["equipment"][0]
    freezer["channels"][0]["sensor"].update(serial=serial, calibration_due="2026-09-30")
    return data


def record_version(store: SQLiteStore, at: datetime, high: float) -> int:
    text = json.dumps(effective(high), sort_keys=True, separators=(",", ":"))
    sha = hashlib.sha256(text.encode()).hexdigest()
    return store.record_config(text, sha, ["alarms-example.yaml"], at, "alice")


def readings(
    start: datetime,
    end: datetime,
    *,
    every: timedelta = timedelta(seconds=10),
    holes: tuple[tuple[datetime, datetime], ...] = (),
    bad_at: tuple[datetime, ...] = (),
    value: float = -80.0,
) -> list[Reading]:
    """A reading every ``every``, none inside ``holes``, a failed sample at ``bad_at``."""
    out: list[Reading] = []
    at = start
    while at < end:
        if not any(a <= at < b for a, b in holes):
            if at in bad_at:
                out.append(Reading.bad(CHANNEL, at, Quality.COMM_ERROR, "timeout"))
            else:
                out.append(Reading.good(CHANNEL, at, value))
        at += every
    return out


def alarm_period(store: SQLiteStore, start: datetime, end: datetime, code: str = "A1001") -> None:
    """The warm alarm raised at ``start``, acknowledged, cleared at ``end``."""

    def view(active: bool, acked: bool) -> dict[str, Any]:
        return {
            "alarm": {
                "key": WARM,
                "code": code,
                "active": active,
                "priority": "high",
                "source": CHANNEL,
                "condition_text": "cabinet_temp above -68 C",
                "acked_by": "dana" if acked else None,
                "acked_at": (start + timedelta(minutes=1)).isoformat() if acked else None,
                "ack_comment": "door closed" if acked else None,
            }
        }

    store.append_alarm_records(
        [
            AlarmRecord(start, start, WARM, "raised", "UNACK", code=code, data=view(True, False)),
            AlarmRecord(
                start + timedelta(minutes=1),
                start + timedelta(minutes=1),
                WARM,
                "acknowledged",
                "ACKED",
                code=code,
                person="dana",
                data=view(True, True),
            ),
            AlarmRecord(end, end, WARM, "cleared", "NORMAL", code=code, data=view(False, True)),
        ]
    )
