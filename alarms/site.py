"""What the alarms read of the site's configuration, as a protocol: the application's root
configuration model has these attributes, and ``alarms`` never imports that model."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Protocol

from monitor.config.sections import Channel, Device, Equipment, Location, Site

if TYPE_CHECKING:
    from alarms.config import AlarmsConfig


class AlarmSite(Protocol):
    @property
    def site(self) -> Site: ...

    @property
    def devices(self) -> tuple[Device, ...]: ...

    @property
    def locations(self) -> tuple[Location, ...]: ...

    @property
    def alarms(self) -> AlarmsConfig | None: ...

    @property
    def notifiers(self) -> Mapping[str, Mapping[str, Any]]: ...

    def channels(self) -> dict[str, tuple[Equipment, Channel]]:
        """Every channel by its stable id ``<equipment>.<channel>``."""
        ...

    def model_dump(self, *, mode: str = "python") -> dict[str, Any]: ...
