"""What compiling the ``alarms:`` section produces: one :class:`Rule` per alarm point, the
inhibit rules between them, and the issues found; and how rule specs are layered."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from alarms.config import AlarmsConfig, LimitSpec, LimitValue, RuleSpec
from alarms.model import ConditionKind, Level, Priority

if TYPE_CHECKING:
    from monitor.config.sections import Channel, Equipment

PathKey = tuple[str | int, ...]
Issue = tuple[PathKey, str]


@dataclass(frozen=True)
class Rule:
    """One alarm point's rule, complete: what to watch, how, and what to tell people."""

    key: str
    rule_id: str
    kind: ConditionKind
    source: str
    name: str
    priority: Priority
    contingency: str
    channels: tuple[str, ...] = ()
    devices: tuple[str, ...] = ()
    equipment: str | None = None
    equipment_name: str | None = None
    equipment_ids: tuple[str, ...] = ()
    source_name: str | None = None
    unit: str = ""
    latching: bool = False
    realarm_after: float | None = None
    realarm_max: int | None = None
    spec: RuleSpec = field(default_factory=RuleSpec)
    limits: dict[Level, tuple[float, Priority]] = field(default_factory=dict)
    reference: str | None = None
    profile_start: str | None = None
    set_kinds: tuple[str, ...] = ()
    clear_kinds: tuple[str, ...] = ()
    pulse: bool = False
    clean_gap_threshold: float | None = None
    """``coldwatch/monitoring_gap``: a ``downtime`` event (after a clean stop) no longer than
    this many seconds raises nothing (:class:`~alarms.conditions.events.SystemCondition`)."""


@dataclass(frozen=True)
class InhibitRule:
    id: str
    parents: tuple[str, ...]
    children: tuple[str, ...]
    hold: float
    first_out_window: float


@dataclass(frozen=True)
class RuleSet:
    rules: tuple[Rule, ...]
    inhibits: tuple[InhibitRule, ...]
    settings: AlarmsConfig
    issues: tuple[Issue, ...]

    def by_key(self) -> dict[str, Rule]:
        return {rule.key: rule for rule in self.rules}


LIMIT_LEVELS = ("low_low", "low", "high", "high_high")


def merge_rule(base: RuleSpec, over: RuleSpec) -> RuleSpec:
    """``over``'s explicitly set fields on top of ``base`` (``null`` clears a field).

    A limit level set to a bare number (or ``{at: ...}`` without a priority) moves the limit
    and keeps ``base``'s priority for that level: ``high_high: 39`` over the incubator's
    critical high-high is still critical. Only ``{at: 39, priority: high}`` changes it."""
    update = {name: getattr(over, name) for name in over.model_fields_set}
    for level in LIMIT_LEVELS:
        if level in update:
            update[level] = _limit_over(getattr(base, level), update[level])
    return base.model_copy(update=update)


def _limit_over(base: LimitValue | None, over: LimitValue | None) -> LimitValue | None:
    """The level's limit after ``over``: its value, with ``base``'s own priority unless
    ``over`` names one."""
    if over is None or not isinstance(base, LimitSpec) or base.priority is None:
        return over
    if isinstance(over, LimitSpec):
        if over.priority is not None:
            return over
        return LimitSpec(at=over.at, priority=base.priority)
    return LimitSpec(at=float(over), priority=base.priority)


def merge_rules(base: dict[str, RuleSpec], over: dict[str, RuleSpec]) -> dict[str, RuleSpec]:
    """``over``'s rules on top of ``base``'s: a rule of the same id is merged, others added."""
    rules = dict(base)
    for rule_id, rule in over.items():
        rules[rule_id] = merge_rule(rules[rule_id], rule) if rule_id in rules else rule
    return rules


def channel_fields(channel_id: str, eq: Equipment, channel: Channel) -> dict[str, Any]:
    """What every rule on one channel says about where it is."""
    return {
        "source": channel_id,
        "devices": (channel.source.device,),
        "equipment": eq.id,
        "equipment_name": eq.name,
        "equipment_ids": (eq.id,),
        "source_name": channel.name,
        "unit": channel.unit,
    }


def realarm_after(own: float | None, settings: AlarmsConfig) -> float | None:
    """A rule's re-alarm delay: its own, else the section's; ``0`` means never (None)."""
    return (settings.realarm_after if own is None else own) or None
