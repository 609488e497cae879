"""The typed configuration: site -> locations -> equipment -> channels, devices, store, logging.

Generic parts are validated here; each device's ``settings`` and each channel's ``source``
are validated afterwards by the model that the device's driver declares (see ``loader``).
Unknown keys are refused everywhere.
"""

from __future__ import annotations

from datetime import date
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from alarms.ack.config import AckConfig
from alarms.config import AlarmsConfig
from alarms.escalation.config import EscalationConfig, ScheduleSpec
from alarms.notify.people import Group, Person
from monitor.config.durations import Duration
from monitor.model import EquipmentKind, Quantity

ID_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,62}$"


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Site(Strict):
    id: str = Field(pattern=ID_PATTERN)
    name: str
    timezone: str = "UTC"

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"'{value}' is not a time zone name (e.g. 'Europe/Berlin')") from None
        return value


class Sensor(Strict):
    serial: str | None = None
    model: str | None = None
    calibration_due: date | None = None
    certificate: str | None = None


class Range(Strict):
    min: float
    max: float


class Source(BaseModel):
    """Where a channel's value comes from: a device, plus fields its driver defines."""

    model_config = ConfigDict(extra="allow", frozen=True)
    device: str


class Channel(Strict):
    id: str = Field(pattern=ID_PATTERN)
    name: str | None = None
    quantity: Quantity
    unit: str
    source: Source
    sensor: Sensor = Sensor()
    range: Range | None = None
    sentinels: tuple[float, ...] = ()
    stale_after: Duration | None = None


class Equipment(Strict):
    id: str = Field(pattern=ID_PATTERN)
    name: str | None = None
    kind: EquipmentKind
    asset_tag: str | None = None
    channels: tuple[Channel, ...] = ()


class Location(Strict):
    id: str = Field(pattern=ID_PATTERN)
    name: str | None = None
    equipment: tuple[Equipment, ...] = ()


class Backoff(Strict):
    initial: Duration = 5.0
    max: Duration = 300.0
    factor: float = Field(default=2.0, ge=1.0, le=10.0)


class Device(Strict):
    id: str = Field(pattern=ID_PATTERN)
    driver: str
    interval: Duration = 10.0
    timeout: Duration = 3.0
    backoff: Backoff = Backoff()
    enabled: bool = True
    settings: dict[str, Any] = {}


class Store(Strict):
    backend: Literal["sqlite"] = "sqlite"
    path: str = "./data/coldwatch.db"
    commit_interval: Duration = Field(default=1.0, gt=0, le=1.0)
    max_batch: int = Field(default=2000, ge=1, le=100_000)
    queue_size: int = Field(default=100_000, ge=100)


class Logging(Strict):
    level: Literal["debug", "info", "warning", "error"] = "info"
    format: Literal["json", "text"] = "json"


class Config(Strict):
    site: Site
    store: Store = Store()
    logging: Logging = Logging()
    devices: tuple[Device, ...] = ()
    locations: tuple[Location, ...] = ()
    alarms: AlarmsConfig | None = None  # no section: no alarm engine (see docs/alarms.md)
    # paging (docs/notifiers.md, docs/escalation.md) and acknowledgement (docs/acknowledgement.md)
    notifiers: dict[str, dict[str, Any]] = {}
    people: tuple[Person, ...] = ()
    groups: tuple[Group, ...] = ()
    schedules: dict[str, ScheduleSpec] = {}
    escalation: EscalationConfig | None = None
    acknowledgement: AckConfig | None = None

    def channels(self) -> dict[str, tuple[Equipment, Channel]]:
        """Every channel by its stable id ``<equipment>.<channel>``."""
        return {
            f"{eq.id}.{ch.id}": (eq, ch)
            for loc in self.locations
            for eq in loc.equipment
            for ch in eq.channels
        }

    def device(self, device_id: str) -> Device:
        for dev in self.devices:
            if dev.id == device_id:
                return dev
        raise KeyError(device_id)
