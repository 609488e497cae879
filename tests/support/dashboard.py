"""A small site for the dashboard's tests: two rooms, three units, two devices, and the live
values a test feeds by hand (:class:`monitor.runtime.live.LiveValues`, as the daemon does)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from alarms.model import AlarmState, AlarmView, ConditionKind, Priority
from monitor.config.sections import SiteConfig
from monitor.core.model import Quality, Reading

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def channel(cid: str, device: str, **more: Any) -> dict[str, Any]:
    return {
        "id": cid,
        "quantity": "temperature",
        "unit": "C",
        "source": {"device": device},
        **more,
    }


def small_site(**site: Any) -> SiteConfig:
    """freezer-1 (cabinet, 1 decimal) and freezer-2 on plc (10 s polls), dewar-1 on bus
    (a 60 s stale_after), in two rooms."""
    return SiteConfig.model_validate(
        {
            "site": {"id": "t", "name": "Test site", **site},
            "devices": [
                {"id": "plc", "driver": "modbus_tcp", "interval": 10},
                {"id": "bus", "driver": "modbus_tcp", "interval": 5},
            ],
            "locations": [
                {
                    "id": "room-a",
                    "name": "Room A",
                    "equipment": [
                        {
                            "id": "freezer-1",
                            "name": "Freezer 1",
                            "kind": "ult_freezer",
                            "channels": [channel("cabinet", "plc", decimals=1)],
                        },
                        {
                            "id": "freezer-2",
                            "kind": "ult_freezer",
                            "channels": [channel("cabinet", "plc", decimals=2)],
                        },
                    ],
                },
                {
                    "id": "room-b",
                    "equipment": [
                        {
                            "id": "dewar-1",
                            "kind": "ln2_dewar",
                            "channels": [channel("vapour", "bus", stale_after="60s")],
                        }
                    ],
                },
            ],
        }
    )


def good(channel: str, at: datetime, value: float) -> Reading:
    return Reading.good(channel, at, value)


def bad(channel: str, at: datetime, quality: Quality = Quality.COMM_ERROR) -> Reading:
    return Reading.bad(channel, at, quality, "test")


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def alarm(
    equipment: str | None,
    state: AlarmState = AlarmState.UNACK,
    priority: Priority = Priority.HIGH,
    *,
    source: str = "x",
    code: str | None = "A1001",
    key: str | None = None,
) -> AlarmView:
    return AlarmView(
        key=key or f"{equipment}.cabinet/warm",
        code=code,
        rule="warm",
        condition=ConditionKind.LIMIT,
        state=state,
        base_state=AlarmState.UNACK if state is AlarmState.SHELVED else state,
        active=True,
        priority=priority,
        level=None,
        equipment=equipment,
        equipment_name=equipment,
        source=source,
        source_name=None,
        value=-60.0,
        unit="C",
        limit=-65.0,
        condition_text="above -65 C",
        message="cabinet warm",
        contingency="check the door",
    )
