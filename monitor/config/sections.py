"""The sections every part shares: site -> locations -> equipment -> channels, devices, store,
logging, gathered in :class:`SiteConfig`.

Each device's ``settings`` and each channel's ``source`` are validated afterwards by the model
that the device's driver declares (``drivers.binding``); the alarm, paging and acknowledgement
sections belong to ``alarms`` and the root model that gathers them all to ``monitor.app``.
Unknown keys are refused everywhere.
"""

from __future__ import annotations

from datetime import date
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from monitor.core.display import MAX_DECIMALS
from monitor.core.durations import Duration
from monitor.core.model import EquipmentKind, Quantity

ID_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,62}$"


class Strict(BaseModel):
    # no .inf or .nan: a range or sentinel of NaN would compare false and check nothing
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


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
    decimals: int | None = Field(default=None, ge=0, le=MAX_DECIMALS, strict=True)
    """Digits after the point when the value is shown (CLI, readings CSV); the stored value
    is never rounded by it. Default: the stored value's own shortest form."""


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
    fallback_journal: str | None = None
    """Where records wait while the store refuses writes (see monitor.store.fallback_journal):
    default ``$RUNTIME_DIRECTORY/fallback.journal`` under systemd (another filesystem than the
    store's), else ``<store file>.fallback`` beside it."""
    group: str | None = Field(default=None, min_length=1, max_length=32)
    """The group that owns the store and its files (0640, folders 0750) and may read them,
    e.g. ``coldwatch``; default: the daemon's own group."""


class Logging(Strict):
    level: Literal["debug", "info", "warning", "error"] = "info"
    format: Literal["json", "text"] = "json"


class SiteConfig(Strict):
    """The shared sections; the application's root model extends it with the others."""

    site: Site
    store: Store = Store()
    logging: Logging = Logging()
    devices: tuple[Device, ...] = ()
    locations: tuple[Location, ...] = ()

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
