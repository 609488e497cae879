"""Inhibit rules: which alarms (parents, by key pattern) suppress which others (children, by
condition kind and equipment or device) while they are active; :mod:`alarms.inhibit` applies
them. Limit, rate and deviation alarms are never children."""

from __future__ import annotations

from collections.abc import Iterable
from fnmatch import fnmatchcase

from alarms.config import AlarmsConfig
from alarms.model import NEVER_SUPPRESSED, ConditionKind
from alarms.rules.model import InhibitRule, Issue, PathKey, Rule


def compile_inhibits(
    settings: AlarmsConfig, rules: list[Rule], issues: list[Issue]
) -> list[InhibitRule]:
    """One :class:`InhibitRule` per ``alarms.inhibit`` entry, over the compiled ``rules``."""
    out: list[InhibitRule] = []
    keys = [rule.key for rule in rules]
    seen: set[str] = set()
    for index, spec in enumerate(settings.inhibit):
        path: PathKey = ("alarms", "inhibit", index)
        ident = spec.id or f"inhibit-{index + 1}"
        if ident in seen:
            issues.append(((*path, "id"), f"duplicate inhibit id '{ident}'"))
        seen.add(ident)
        parents: list[str] = []
        for pattern_index, pattern in enumerate(spec.when):
            hits = [key for key in keys if fnmatchcase(key, pattern)]
            if not hits:
                issues.append(
                    (
                        (*path, "when", pattern_index),
                        f"'{pattern}' matches no alarm (alarm keys look like "
                        "'freezer-07.cabinet_temp/warm', 'tsx-07/comm_loss', "
                        "'coldwatch/disk_low')",
                    )
                )
            parents.extend(hit for hit in hits if hit not in parents)
        kinds = {ConditionKind(name) for name in spec.suppress.conditions} - NEVER_SUPPRESSED
        children = [
            rule.key
            for rule in rules
            if rule.kind in kinds
            and rule.key not in parents
            and (
                _any_match(rule.equipment_ids, spec.suppress.equipment)
                or _any_match(rule.devices, spec.suppress.devices)
            )
        ]
        out.append(
            InhibitRule(ident, tuple(parents), tuple(children), spec.hold, spec.first_out_window)
        )
    return out


def _any_match(names: Iterable[str], patterns: Iterable[str]) -> bool:
    patterns = tuple(patterns)
    return any(fnmatchcase(name, pattern) for name in names for pattern in patterns)
