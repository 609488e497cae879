"""The rules of the site's equipment: each unit's template, its own overrides on top, each rule
checked and applied to the channels its role binds to (``<equipment>.<channel>/<rule>``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from alarms.config import AlarmsConfig, EquipmentAlarms, RuleSpec, TemplateSpec
from alarms.model import ConditionKind, Level, Priority
from alarms.rules.checks import (
    check_channel,
    check_deviation,
    check_fields,
    check_limits,
    check_rate,
    check_stale,
    check_status,
)
from alarms.rules.model import Issue, PathKey, Rule, channel_fields, merge_rules, realarm_after
from alarms.rules.report import RuleReport, unknown_names
from alarms.rules.roles import RoleBinding, bind_roles
from alarms.rules.templates import VALID_ID

if TYPE_CHECKING:
    from alarms.site import AlarmSite
    from monitor.config.sections import Channel, Equipment


def compile_equipment(
    site: AlarmSite,
    settings: AlarmsConfig,
    templates: dict[str, TemplateSpec],
    issues: list[Issue],
) -> list[Rule]:
    """The rules of every unit of every location; ``alarms.equipment`` names only units."""
    rules: list[Rule] = []
    known: set[str] = set()
    for location_index, location in enumerate(site.locations):
        for unit_index, eq in enumerate(location.equipment):
            known.add(eq.id)
            path: PathKey = ("locations", location_index, "equipment", unit_index)
            rules.extend(compile_unit(eq, path, settings, templates, issues))
    listing = f"equipment: {', '.join(sorted(known)) or 'none'}"
    issues.extend(unknown_names("equipment", settings.equipment, known, "equipment", listing))
    return rules


def _own_rules(own: EquipmentAlarms, here: PathKey, issues: list[Issue]) -> dict[str, RuleSpec]:
    """The unit's own rules whose ids are valid."""
    valid: dict[str, RuleSpec] = {}
    for rule_id, rule in own.rules.items():
        if not VALID_ID.match(rule_id):
            issues.append(((*here, "rules", rule_id), f"'{rule_id}' is not a valid rule id"))
            continue
        valid[rule_id] = rule
    return valid


def compile_unit(
    eq: Equipment,
    eq_path: PathKey,
    settings: AlarmsConfig,
    templates: dict[str, TemplateSpec],
    issues: list[Issue],
) -> list[Rule]:
    """One unit's rules: its template's, with the unit's own merged in."""
    own = settings.equipment.get(eq.id, EquipmentAlarms())
    here: PathKey = ("alarms", "equipment", eq.id)
    where = here if eq.id in settings.equipment else eq_path
    template_name = own.template or eq.kind.value
    template = templates.get(template_name)
    if template is None:
        issues.append(
            (
                (*here, "template"),
                f"template '{template_name}' does not exist "
                f"(templates: {', '.join(sorted(templates))})",
            )
        )
        return []
    binding = bind_roles(eq, template, own, where, issues)
    specs = merge_rules(template.rules, _own_rules(own, here, issues))
    rules: list[Rule] = []
    for rule_id, spec in specs.items():
        if spec.enabled is False:
            continue
        own_rule = own.rules.get(rule_id)
        report = RuleReport(
            issues,
            own_rule,
            (*here, "rules", rule_id) if own_rule is not None else where,
            "" if own_rule is not None else f"template '{template_name}' rule '{rule_id}': ",
        )
        if not check_fields(spec, report):
            continue
        for channel_id in binding.targets(spec, report, here):
            rule = make_rule(binding, binding.channels[channel_id], rule_id, spec, report, settings)
            if rule is not None:
                rules.append(rule)
    return rules


def make_rule(
    binding: RoleBinding,
    channel: Channel,
    rule_id: str,
    spec: RuleSpec,
    report: RuleReport,
    settings: AlarmsConfig,
) -> Rule | None:
    """The rule on one channel of the unit; None when the checks found an issue."""
    assert spec.condition is not None
    eq = binding.eq
    kind = ConditionKind(spec.condition)
    before = report.found
    channel_id = f"{eq.id}.{channel.id}"
    check_channel(kind, spec, channel, report)
    priority = spec.priority or Priority.HIGH
    limits: dict[Level, tuple[float, Priority]] = {}
    reference = profile_start = None
    if kind is ConditionKind.LIMIT:
        limits = check_limits(spec, priority, report)
    elif kind is ConditionKind.RATE:
        check_rate(spec, report)
    elif kind is ConditionKind.STALE:
        check_stale(spec, report)
    elif kind is ConditionKind.STATUS:
        check_status(spec, report)
    elif kind is ConditionKind.DEVIATION:
        reference, profile_start = check_deviation(spec, channel, binding, report)
    if report.found > before:
        return None
    extra = tuple(other for other in (reference, profile_start) if other is not None)
    return Rule(
        key=f"{channel_id}/{rule_id}",
        rule_id=rule_id,
        kind=kind,
        name=spec.name or rule_id.replace("_", " "),
        priority=priority,
        contingency=spec.contingency or "",
        channels=(channel_id, *extra),
        **channel_fields(channel_id, eq, channel),
        latching=bool(spec.latching),
        realarm_after=realarm_after(spec.realarm_after, settings),
        realarm_max=spec.realarm_max if spec.realarm_max is not None else settings.realarm_max,
        spec=spec,
        limits=limits,
        reference=reference,
        profile_start=profile_start,
    )
