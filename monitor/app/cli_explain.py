"""``coldwatch check-config --explain UNIT``: the rules in force for one unit, as the engine
will run them, and where each setting comes from (the unit's own rules, a site template, a
built-in SOP template), so an installer sees what an override changed and what it kept.
"""

from __future__ import annotations

from alarms.config import AlarmsConfig
from alarms.model import ConditionKind, Level
from alarms.rules import Rule, compile_rules
from alarms.rules.provenance import (
    Layer,
    field_source,
    limit_priority_source,
    rule_layers,
    template_name,
)
from monitor.app.config import Config
from monitor.config.sections import Equipment

DEFAULT = "default"


class UnknownUnit(LookupError):
    """The unit named is not in the configuration (the message lists those that are)."""


def explain_unit(cfg: Config, unit_id: str) -> str:
    """The text ``--explain`` prints for ``unit_id``; :class:`UnknownUnit` if there is none."""
    units = {eq.id: eq for loc in cfg.locations for eq in loc.equipment}
    eq = units.get(unit_id)
    if eq is None:
        raise UnknownUnit(
            f"no unit '{unit_id}' in this configuration (units: {', '.join(sorted(units))})"
        )
    title = f"{eq.id}" + (f" ({eq.name})" if eq.name else "") + f", kind {eq.kind.value}"
    settings = cfg.alarms
    if settings is None:
        return f"{title}\n  no alarms: section in this configuration: no alarm rules are in force"
    lines = [f"{title}, template '{template_name(eq, settings)}'"]
    rules = [r for r in compile_rules(cfg).rules if _concerns(r, eq.id)]
    for rule in rules:
        lines.append("")
        lines.extend(_rule_lines(rule, eq, settings))
    if not rules:
        lines.append("  no rules are in force for this unit")
    return "\n".join(lines)


def _concerns(rule: Rule, unit_id: str) -> bool:
    return rule.equipment == unit_id or unit_id in rule.equipment_ids


def _rule_lines(rule: Rule, eq: Equipment, settings: AlarmsConfig) -> list[str]:
    from_template = rule.kind not in (ConditionKind.COMM_LOSS, ConditionKind.CALIBRATION)
    layers = rule_layers(eq, settings, rule.rule_id) if from_template else []

    def source(name: str) -> str:
        if not from_template:
            return _system_source(rule, settings)
        return field_source(layers, name) or DEFAULT

    lines = [
        f"{rule.key}  ({rule.kind.value}: {rule.name})",
        f"  priority {rule.priority.value}  [{source('priority')}]",
    ]
    if rule.kind is ConditionKind.LIMIT:
        lines.extend(_limit_lines(rule, layers))
    unit = f" {rule.unit}" if rule.unit else ""
    spec = rule.spec
    for name, value in (
        ("on_delay", spec.on_delay),
        ("off_delay", spec.off_delay),
        ("after", spec.after),
    ):
        if value is not None or (name == "on_delay" and rule.kind is not ConditionKind.STALE):
            lines.append(f"  {name} {_seconds(value or 0.0)}  [{source(name)}]")
    if spec.deadband is not None:
        lines.append(f"  deadband {spec.deadband:g}{unit}  [{source('deadband')}]")
    text = rule.contingency or "(none)"
    lines.append(f"  SOP text [{source('contingency')}]: {text}")
    return lines


def _limit_lines(rule: Rule, layers: list[Layer]) -> list[str]:
    lines: list[str] = []
    unit = f" {rule.unit}" if rule.unit else ""
    for level in Level:
        if level not in rule.limits:
            continue
        value, priority = rule.limits[level]
        value_from = field_source(layers, level.value) or DEFAULT
        priority_from = limit_priority_source(layers, level.value) or "the rule's"
        whence = (
            f"value and priority: {value_from}"
            if value_from == priority_from
            else f"value: {value_from}; priority: {priority_from}"
        )
        lines.append(f"  {level.value:<9} {value:g}{unit}  {priority.value}  [{whence}]")
    return lines


def _system_source(rule: Rule, settings: AlarmsConfig) -> str:
    """Comm loss and calibration rules are not from templates: their sections."""
    if rule.kind is ConditionKind.CALIBRATION:
        return "alarms.system.calibration_due" if "calibration_due" in settings.system else DEFAULT
    named = [f"alarms.devices.{d}" for d in rule.devices if d in settings.devices]
    if "comm_loss" in settings.model_fields_set:
        named.append("alarms.comm_loss")
    return ", ".join(named) or DEFAULT


def _seconds(value: float) -> str:
    """A duration as the configuration writes it: ``15m``, ``90s``, ``1h``."""
    for unit, size in (("h", 3600), ("m", 60)):
        if value >= size and value % size == 0:
            return f"{value / size:g}{unit}"
    return f"{value:g}s"
