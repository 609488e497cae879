"""From configuration to concrete rules, in order: the site's templates, each unit's rules,
each device's comm loss, the checks of coldwatch itself, calibration due dates, and the inhibit
rules over all of them; every issue found on the way, with the path of the key to change."""

from __future__ import annotations

from typing import TYPE_CHECKING

from alarms.config import AlarmsConfig
from alarms.rules.equipment import compile_equipment
from alarms.rules.inhibits import compile_inhibits
from alarms.rules.model import Issue, RuleSet
from alarms.rules.system_rules import compile_calibration, compile_devices, compile_system
from alarms.rules.templates import resolve_templates

if TYPE_CHECKING:
    from alarms.site import AlarmSite


def compile_rules(cfg: AlarmSite) -> RuleSet:
    """Every rule of the configuration's ``alarms:`` section, and every issue found."""
    if cfg.alarms is None:
        return RuleSet((), (), AlarmsConfig(), ())
    settings = cfg.alarms
    issues: list[Issue] = []
    if settings.flood.end_below > settings.flood.start_above:
        issues.append(
            (
                ("alarms", "flood", "end_below"),
                f"end_below ({settings.flood.end_below}) must not exceed start_above "
                f"({settings.flood.start_above})",
            )
        )
    templates = resolve_templates(settings.templates, issues)
    rules = compile_equipment(cfg, settings, templates, issues)
    rules.extend(compile_devices(cfg, settings, issues))
    rules.extend(compile_system(cfg, settings, issues))
    rules.extend(compile_calibration(cfg, settings, {rule.key for rule in rules}, issues))
    inhibits = compile_inhibits(settings, rules, issues)
    return RuleSet(tuple(rules), tuple(inhibits), settings, tuple(issues))
