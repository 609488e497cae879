"""Where an issue is reported: about one rule of one unit, the path of the key to change and the
label that names the rule when the path cannot (a template's rule reported at the unit); about
a name of the section that names nothing, the name's own key."""

from __future__ import annotations

from collections.abc import Collection, Iterable
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


def unknown_names(
    section: str, configured: Iterable[str], known: Collection[str], what: str, listing: str
) -> list[Issue]:
    """An issue for each name under ``alarms.<section>`` that is not ``known``; ``listing``
    says which names there are."""
    return [
        (("alarms", section, name), f"no such {what} ({listing})")
        for name in configured
        if name not in known
    ]
