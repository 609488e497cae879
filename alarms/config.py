"""The ``alarms:`` section of the configuration: typed, strict, and merged field by field.

A rule (:class:`RuleSpec`) has every field optional so that a unit can override only what it
changes in its template's rule (``high: -68``); the merged rule is checked for completeness in
:mod:`alarms.rules`, which also reports errors with the path of the key to change. Unknown keys
are refused everywhere, as in the rest of the configuration.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from alarms.model import Priority
from monitor.core.durations import Duration
from monitor.core.model import Quantity

RuleCondition = Literal["limit", "rate", "stale", "quality", "discrete", "status", "deviation"]
BadQuality = Literal["sensor_fault", "out_of_range"]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LimitSpec(Strict):
    """A limit with its own priority: ``high_high: {at: -60, priority: critical}``."""

    at: float
    priority: Priority | None = None


LimitValue = float | LimitSpec


class ProfileSpec(Strict):
    """A programmed temperature profile: ``points`` are (time since the run started,
    temperature), linearly interpolated; the run starts when ``start`` (a role or channel)
    reads non-zero and ends when it reads zero."""

    start: str
    points: tuple[tuple[Duration, float], ...] = Field(min_length=2)


class RuleSpec(Strict):
    """One alarm rule. In a template or a unit's ``rules``; a unit's rule with the id of a
    template rule overrides only the fields it sets (``null`` removes a limit)."""

    condition: RuleCondition | None = None
    role: str | None = None
    channel: str | tuple[str, ...] | None = None
    name: str | None = None
    enabled: bool | None = None
    priority: Priority | None = None
    latching: bool | None = None
    realarm_after: Duration | None = None
    realarm_max: int | None = Field(default=None, ge=0)
    on_delay: Duration | None = None
    off_delay: Duration | None = None
    contingency: str | None = None
    unit: str | None = None
    # limit
    low_low: LimitValue | None = None
    low: LimitValue | None = None
    high: LimitValue | None = None
    high_high: LimitValue | None = None
    deadband: float | None = Field(default=None, ge=0)
    # rate of change, per minute
    rise: float | None = Field(default=None, gt=0)
    fall: float | None = Field(default=None, gt=0)
    window: Duration | None = None
    min_points: int | None = Field(default=None, ge=3, le=100_000)
    # stale
    after: Duration | None = None
    # quality
    qualities: tuple[BadQuality, ...] | None = None
    # discrete
    alarm_when: bool | None = None
    # status
    bits: tuple[int, ...] | None = None
    values: tuple[int | str, ...] | None = None
    ok_values: tuple[int | str, ...] | None = None
    # deviation from a programmed profile
    reference: str | None = None
    profile: ProfileSpec | None = None
    tolerance: float | None = Field(default=None, gt=0)
    max_reference_age: Duration | None = None


class RoleSpec(Strict):
    """A channel a template's rules refer to. A unit binds it explicitly (``bind``), or it
    binds to the unit's channel with the role's name, or to its only channel of ``quantity``."""

    quantity: Quantity | None = None
    required: bool = False


class TemplateSpec(Strict):
    """Rules for a kind of equipment. A template named like an equipment kind changes that
    kind's built-in SOP template; another name makes a new template (``extends`` one)."""

    extends: str | None = None
    roles: dict[str, RoleSpec] = {}
    rules: dict[str, RuleSpec] = {}


class EquipmentAlarms(Strict):
    template: str | None = None
    bind: dict[str, str | tuple[str, ...]] = {}
    rules: dict[str, RuleSpec] = {}


class CommLossSpec(Strict):
    """The alarm a device's communication loss raises (``device_down`` .. ``device_up``)."""

    enabled: bool | None = None
    priority: Priority | None = None
    on_delay: Duration | None = None
    latching: bool | None = None
    realarm_after: Duration | None = None
    contingency: str | None = None


class SystemAlarmSpec(CommLossSpec):
    """A check of coldwatch itself (``alarms.system.<name>``)."""

    clean_gap_threshold: Duration | None = Field(default=None, ge=0)
    """``monitoring_gap`` only: the downtime after a clean stop (``coldwatch stop|restart``,
    SIGTERM) raises the alarm only when longer than this (default 5 min); it is recorded
    either way. An unclean stop (crash, SIGKILL, power loss) always raises it."""


class SuppressSpec(Strict):
    equipment: tuple[str, ...] = ("*",)
    devices: tuple[str, ...] = ()
    conditions: tuple[Literal["comm_loss", "stale", "status", "quality", "discrete"], ...] = (
        "comm_loss",
        "stale",
        "status",
    )


class InhibitSpec(Strict):
    """While any ``when`` alarm is active (and ``hold`` after), the alarms it causes are
    SUPPRESSED: recorded, not announced. Limit, rate and deviation alarms never are."""

    id: str | None = Field(default=None, pattern=r"^[a-z0-9][a-z0-9_-]{0,62}$")
    when: tuple[str, ...] = Field(min_length=1)
    suppress: SuppressSpec = SuppressSpec()
    hold: Duration = 300.0
    first_out_window: Duration = 120.0


class ChatterSpec(Strict):
    count: int = Field(default=3, ge=2)
    window: Duration = 60.0


class FloodSpec(Strict):
    start_above: int = Field(default=10, ge=1)
    end_below: int = Field(default=5, ge=1)
    window: Duration = 600.0


class AlarmsConfig(Strict):
    realarm_after: Duration = 3600.0
    realarm_max: int | None = Field(default=None, ge=0)
    max_shelve: Duration = 8 * 3600.0
    max_out_of_service: Duration = 7 * 86400.0
    chattering: ChatterSpec = ChatterSpec()
    flood: FloodSpec = FloodSpec()
    comm_loss: CommLossSpec = CommLossSpec()
    devices: dict[str, CommLossSpec] = {}
    system: dict[str, SystemAlarmSpec] = {}
    templates: dict[str, TemplateSpec] = {}
    equipment: dict[str, EquipmentAlarms] = {}
    inhibit: tuple[InhibitSpec, ...] = ()


_LABELS = {"templates": "template", "equipment": "equipment", "devices": "device"}


def describe_path(data: Mapping[str, Any], path: Sequence[str | int]) -> str:
    """Name the objects an ``alarms.`` path runs through, for error messages:
    "equipment 'freezer-07' rule 'warm'", "inhibit 'site-power'"."""
    names: list[str] = []
    parts = list(path[1:])
    if len(parts) >= 2 and parts[0] in _LABELS:
        names.append(f"{_LABELS[str(parts[0])]} '{parts[1]}'")
        if len(parts) >= 4 and parts[2] == "rules":
            names.append(f"rule '{parts[3]}'")
    elif len(parts) >= 2 and parts[0] == "system":
        names.append(f"system alarm '{parts[1]}'")
    elif len(parts) >= 2 and parts[0] == "inhibit" and isinstance(parts[1], int):
        alarms = data.get("alarms")
        rules = alarms.get("inhibit") if isinstance(alarms, Mapping) else None
        item = rules[parts[1]] if isinstance(rules, list) and parts[1] < len(rules) else None
        ident = item.get("id") if isinstance(item, Mapping) else None
        names.append(f"inhibit '{ident}'" if ident else f"inhibit #{parts[1] + 1}")
    return " ".join(names)
