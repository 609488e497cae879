"""Where an issue about one rule of one unit is reported: the path of the key to change and the
label that names the rule when the path cannot (a template's rule reported at the unit)."""

from __future__ import annotations

from dataclasses import dataclass

from alarms.config import RuleSpec
from alarms.rules.model import Issue, PathKey


@dataclass
class RuleReport:
    """Issues about one rule: at the unit's own setting of a field when there is one, else at
    ``rule_path``, each message after ``label``."""

    issues: list[Issue]
    own_rule: RuleSpec | None
    rule_path: PathKey
    label: str
    found: int = 0

    def at(self, name: str) -> PathKey:
        """Issues about a field point at the unit's own setting of it when there is one."""
        if self.own_rule is not None and name in self.own_rule.model_fields_set:
            return (*self.rule_path, name)
        return self.rule_path

    def add(self, name: str, message: str, *, labelled: bool = True) -> None:
        """An issue about field ``name`` of the rule."""
        self.issues.append((self.at(name), f"{self.label}{message}" if labelled else message))
        self.found += 1
