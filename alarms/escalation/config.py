"""The configuration of paging: ``schedules:`` and ``escalation:`` (with ``notifiers:``,
``people:`` and ``groups:`` from :mod:`alarms.notify`), strict models.

Pydantic checks each section on its own; what refers to what (a tier naming a person nobody
configured, a route to a missing policy) is :func:`alarms.escalation.config_checks.check_paging`.
This module is imported by the configuration schema, so it stays light.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime, time, timedelta
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from alarms.model import ConditionKind, Level, Priority
from alarms.people import Group, Person
from monitor.core.durations import Duration, parse_duration
from monitor.core.model import EquipmentKind

PathKey = tuple[str | int, ...]
Issue = tuple[PathKey, str]

ID_PATTERN = r"^[a-z0-9][a-z0-9_.-]{0,63}$"
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# --- small types ---------------------------------------------------------------------------


def _tuple(value: Any) -> Any:
    """A single value where a list is allowed: ``priority: critical``."""
    if value is None or isinstance(value, list | tuple):
        return value
    return (value,)


def _clock_time(value: Any) -> Any:
    """YAML 1.1 reads an unquoted ``18:00`` as the number 1080 (base 60): refuse it rather
    than guess whether it meant minutes or seconds."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        raise ValueError('write times of day in quotes, e.g. "08:00" (YAML reads 8:00 as a number)')
    return value


def _rotation(value: Any) -> timedelta:
    """``daily``, ``weekly`` or a duration (``12h``, ``2d``) of whole minutes, at least 1 h."""
    if value == "daily":
        return timedelta(days=1)
    if value == "weekly":
        return timedelta(days=7)
    seconds = value.total_seconds() if isinstance(value, timedelta) else parse_duration(value)
    if seconds < 3600 or seconds % 60:
        raise ValueError("a rotation is daily, weekly or a duration of whole minutes, at least 1h")
    return timedelta(seconds=seconds)


def _zone(value: Any) -> Any:
    if value is None:
        return value
    try:
        ZoneInfo(str(value))
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"'{value}' is not a time zone name (e.g. 'Europe/Berlin')") from None
    return value


ClockTime = Annotated[time, BeforeValidator(_clock_time)]
Rotation = Annotated[timedelta, BeforeValidator(_rotation)]
ZoneName = Annotated[str | None, BeforeValidator(_zone)]
Globs = Annotated[tuple[str, ...] | None, BeforeValidator(_tuple)]


# --- schedules -------------------------------------------------------------------------------


class RestrictSpec(Strict):
    """When a layer applies, in the schedule's local time: weekdays and/or a window of the day
    (``start`` > ``end`` runs past midnight, e.g. 18:00-08:00). Outside it, lower layers apply."""

    days: Annotated[tuple[Weekday, ...] | None, BeforeValidator(_tuple)] = None
    start: ClockTime | None = None
    end: ClockTime | None = None


class LayerSpec(Strict):
    """A rotation: ``people`` take turns of ``rotation`` length, handing off at ``handoff``
    local time; ``people[0]``'s turn begins on ``start`` at ``handoff`` (and the rotation runs
    back in time from there too, so a layer always names someone)."""

    name: str = Field(default="", max_length=100)
    people: tuple[str, ...] = Field(min_length=1)
    rotation: Rotation = timedelta(days=7)
    handoff: ClockTime = time(8, 0)
    start: date
    restrict: RestrictSpec | None = None


class OverrideSpec(Strict):
    """``person`` is on call from ``start`` to ``end`` instead of the layers (a swap, cover for
    a holiday). Times without an offset are the schedule's local time."""

    person: str
    start: datetime
    end: datetime
    reason: str = Field(default="", max_length=200)


class ScheduleSpec(Strict):
    """An on-call schedule: layers (later ones on top where they name someone) and overrides
    (on top of all layers), in a named time zone (default: the site's)."""

    name: str = Field(default="", max_length=100)
    timezone: ZoneName = None
    layers: tuple[LayerSpec, ...] = Field(min_length=1)
    overrides: tuple[OverrideSpec, ...] = ()


# --- escalation ------------------------------------------------------------------------------


class TierSpec(Strict):
    """Page ``notify`` (``person:<id>``, ``group:<id>``, ``schedule:<id>``), then wait."""

    name: str = Field(default="", max_length=100)
    notify: Annotated[tuple[str, ...], BeforeValidator(_tuple)] = Field(min_length=1)
    wait: Duration = Field(default=900.0, ge=1.0)


class PolicySpec(Strict):
    """Tiers in order; the whole list runs ``1 + repeat`` times; then, with ``keep_paging``,
    the last tier is paged again every ``wait`` of its own until someone acknowledges."""

    name: str = Field(default="", max_length=100)
    tiers: tuple[TierSpec, ...] = Field(min_length=1, max_length=20)
    repeat: int = Field(default=2, ge=0, le=50)
    keep_paging: bool = True


class RouteMatch(Strict):
    """Every key given must match (a list: any of its values); globs for ids and keys."""

    priority: Annotated[tuple[Priority, ...] | None, BeforeValidator(_tuple)] = None
    condition: Annotated[tuple[ConditionKind, ...] | None, BeforeValidator(_tuple)] = None
    level: Annotated[tuple[Level, ...] | None, BeforeValidator(_tuple)] = None
    equipment_kind: Annotated[tuple[EquipmentKind, ...] | None, BeforeValidator(_tuple)] = None
    equipment: Globs = None
    location: Globs = None
    rule: Globs = None
    key: Globs = None


class RouteSpec(Strict):
    match: RouteMatch = RouteMatch()
    policy: str


class BundleSpec(Strict):
    """During an alarm flood, pages to one person within ``window`` go out as one message."""

    enabled: bool = True
    window: Duration = Field(default=30.0, ge=1.0, le=300.0)


class EscalationConfig(Strict):
    """``policies`` by id; ``routes`` tried in order (first match wins), else
    ``default_policy``."""

    policies: dict[str, PolicySpec] = Field(min_length=1)
    routes: tuple[RouteSpec, ...] = ()
    default_policy: str
    flood: BundleSpec = BundleSpec()
    skip_channels_for_updates: tuple[str, ...] | None = None
    """Channels not used for "back to normal" and "acknowledged" messages (nobody is woken by
    a call to hear that). Default: every ``twilio_voice`` notifier."""


class PagingConfig(Strict):
    """The five top-level sections paging reads, wherever they come from."""

    notifiers: dict[str, dict[str, Any]] = {}
    people: tuple[Person, ...] = ()
    groups: tuple[Group, ...] = ()
    schedules: dict[str, ScheduleSpec] = {}
    escalation: EscalationConfig | None = None

    @classmethod
    def of(cls, source: object) -> PagingConfig:
        """The sections from the root configuration, which has them as attributes (or a mapping,
        e.g. the YAML document); a missing section is empty."""
        names = ("notifiers", "people", "groups", "schedules", "escalation")
        if isinstance(source, Mapping):
            data = {name: source[name] for name in names if source.get(name) is not None}
        else:
            data = {
                name: getattr(source, name)
                for name in names
                if getattr(source, name, None) is not None
            }
        return cls.model_validate(data)


def update_skip_channels(paging: PagingConfig) -> frozenset[str]:
    """Channels not used for update messages: configured, or every voice notifier."""
    escalation = paging.escalation
    if escalation is not None and escalation.skip_channels_for_updates is not None:
        return frozenset(escalation.skip_channels_for_updates)
    return frozenset(
        name for name, raw in paging.notifiers.items() if raw.get("type") == "twilio_voice"
    )


def never_bundled_channels(paging: PagingConfig) -> frozenset[str]:
    """Horns count alarms by their code: a page listing several alarms would confuse them."""
    return frozenset(name for name, raw in paging.notifiers.items() if raw.get("type") == "horn")
