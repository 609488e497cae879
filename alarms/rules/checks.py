"""The checks of one merged rule against its condition and the channel it watches: which fields
the condition takes, limits in order, units and quantities that fit, a reference that exists.

Each check reports through a :class:`RuleReport`, so every issue names the key to change.
"""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING, Final

from alarms.config import LimitSpec, LimitValue, RuleSpec
from alarms.model import ConditionKind, Level, Priority
from alarms.rules.report import RuleReport
from monitor.core.model import DISCRETE_QUANTITIES, UNITS, Quantity

if TYPE_CHECKING:
    from alarms.rules.roles import RoleBinding
    from monitor.config.sections import Channel

_COMMON: Final = frozenset(
    {
        "condition",
        "role",
        "channel",
        "name",
        "enabled",
        "priority",
        "latching",
        "realarm_after",
        "realarm_max",
        "contingency",
        "unit",
    }
)
_DELAYS: Final = frozenset({"on_delay", "off_delay"})
ALLOWED: Final[dict[str, frozenset[str]]] = {
    "limit": _COMMON | _DELAYS | {"low_low", "low", "high", "high_high", "deadband"},
    "rate": _COMMON | _DELAYS | {"rise", "fall", "window", "min_points"},
    "stale": _COMMON | {"after"},
    "quality": _COMMON | _DELAYS | {"qualities"},
    "discrete": _COMMON | _DELAYS | {"alarm_when"},
    "status": _COMMON | _DELAYS | {"bits", "values", "ok_values"},
    "deviation": _COMMON | _DELAYS | {"reference", "profile", "tolerance", "max_reference_age"},
}
_NUMERIC_EXCLUDED: Final = DISCRETE_QUANTITIES | {Quantity.TEXT, Quantity.STATUS_CODE}
_LEVEL_ORDER: Final = (Level.LOW_LOW, Level.LOW, Level.HIGH, Level.HIGH_HIGH)


def check_fields(spec: RuleSpec, report: RuleReport) -> bool:
    """The rule names its condition and sets only fields that condition uses."""
    if spec.condition is None:
        report.add("condition", "'condition' is required")
        return False
    wrong = [
        name
        for name in type(spec).model_fields
        if getattr(spec, name) is not None and name not in ALLOWED[spec.condition]
    ]
    for name in wrong:
        report.add(name, f"'{name}' does not apply to a {spec.condition} rule")
    return not wrong


def check_channel(
    kind: ConditionKind, spec: RuleSpec, channel: Channel, report: RuleReport
) -> None:
    """The channel gives what the condition reads, in the unit the rule's values are in."""
    measured = (ConditionKind.LIMIT, ConditionKind.RATE, ConditionKind.DEVIATION)
    if kind in measured and channel.quantity in _NUMERIC_EXCLUDED:
        report.add(
            "condition",
            f"a {kind.value} rule needs a measured value; channel "
            f"'{channel.id}' is {channel.quantity.value}",
        )
    if kind is ConditionKind.DISCRETE and not (
        channel.quantity in DISCRETE_QUANTITIES or channel.unit == "bool"
    ):
        report.add(
            "condition",
            f"a discrete rule needs an on/off channel; channel '{channel.id}' is "
            f"{channel.quantity.value}",
        )
    if spec.unit is not None and spec.unit != channel.unit and _known_unit(channel):
        report.add(
            "unit",
            f"the rule's values are in {spec.unit} but channel '{channel.id}' is "
            f"in {channel.unit}: set 'unit: {channel.unit}' and values in {channel.unit}",
        )


def _known_unit(channel: Channel) -> bool:
    """Whether the channel's unit is one its quantity allows: one that is not is reported
    once, on the channel, not again by every rule on it (with a fix naming the bad unit)."""
    return channel.unit in UNITS.get(channel.quantity, (channel.unit,))


def _limit(value: LimitValue | None, default: Priority) -> tuple[float, Priority] | None:
    if value is None:
        return None
    if isinstance(value, LimitSpec):
        return value.at, value.priority or default
    return float(value), default


def check_limits(
    spec: RuleSpec, priority: Priority, report: RuleReport
) -> dict[Level, tuple[float, Priority]]:
    """A limit rule's limits, low-low to high-high, each above the one below it."""
    limits: dict[Level, tuple[float, Priority]] = {}
    for level in _LEVEL_ORDER:
        value = _limit(getattr(spec, level.value), priority)
        if value is not None:
            limits[level] = value
    if not limits:
        report.add("high", "a limit rule needs at least one of low_low, low, high, high_high")
        return limits
    ordered = [(level, value[0]) for level, value in limits.items()]
    for (lower, lower_at), (higher, higher_at) in itertools.pairwise(ordered):
        if lower_at >= higher_at:
            report.add(
                higher.value,
                f"{higher.value} ({higher_at:g}) must be above {lower.value} ({lower_at:g})",
            )
    return limits


def check_rate(spec: RuleSpec, report: RuleReport) -> None:
    if spec.rise is None and spec.fall is None:
        report.add("rise", "a rate rule needs 'rise' or 'fall' (per minute)")
    if spec.window is not None and spec.window <= 0:
        report.add("window", "'window' must be longer than 0")


def check_stale(spec: RuleSpec, report: RuleReport) -> None:
    if not spec.after:
        report.add("after", "a stale rule needs 'after' (e.g. 10m)")


def check_status(spec: RuleSpec, report: RuleReport) -> None:
    if spec.bits is not None and spec.values is not None:
        report.add("bits", "give either 'bits' or 'values', not both")
    for bit in spec.bits or ():
        if not 0 <= bit <= 63:
            report.add("bits", f"bit {bit} is not between 0 and 63")


def check_deviation(
    spec: RuleSpec, channel: Channel, binding: RoleBinding, report: RuleReport
) -> tuple[str | None, str | None]:
    """A deviation rule's reference channel or profile start channel (``<equipment>.<id>``)."""
    if spec.tolerance is None:
        report.add("tolerance", "a deviation rule needs 'tolerance'")
    if (spec.reference is None) == (spec.profile is None):
        report.add(
            "reference",
            "a deviation rule needs either 'reference' (a program channel) or 'profile'",
        )
        return None, None

    eq_id = binding.eq.id

    def resolve(name: str, key: str) -> str | None:
        channel_id = binding.channel_of(name)
        if channel_id is None:
            report.add(
                key,
                f"'{name}' names no channel of {eq_id}: bind role '{name}' in "
                f"alarms.equipment.{eq_id}.bind, or give a channel id",
            )
            return None
        return f"{eq_id}.{channel_id}"

    if spec.reference is not None:
        reference = resolve(spec.reference, "reference")
        if reference is not None:
            reference_unit = binding.channels[reference.split(".", 1)[1]].unit
            if reference_unit != channel.unit:
                report.add(
                    "reference",
                    f"the reference is in {reference_unit}, channel '{channel.id}' in "
                    f"{channel.unit}",
                )
        return reference, None
    assert spec.profile is not None
    times = [offset for offset, _ in spec.profile.points]
    if times != sorted(times) or len(set(times)) != len(times):
        report.add("profile", "profile points must be in increasing time order")
    return None, resolve(spec.profile.start, "profile")
