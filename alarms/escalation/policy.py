"""Escalation policies as step sequences, and the routes that pick a policy for an alarm.

A policy with tiers T1..Tn and ``repeat: r`` is the sequence of steps
``T1 .. Tn`` run ``1 + r`` times; after that, with ``keep_paging`` (the default, and required
for anything a critical alarm can reach), step k pages Tn for every k: a critical alarm never
goes quiet while unacknowledged. After a step the next one is due ``wait`` of the tier paged.
Numbering the steps 0, 1, 2, ... lets the escalation state be one integer that survives
restarts, whatever the policy looks like.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import TYPE_CHECKING

from alarms.escalation.config import EscalationConfig, PolicySpec, RouteMatch, RouteSpec
from alarms.model import AlarmView
from monitor.core.model import EquipmentKind

if TYPE_CHECKING:
    from alarms.rules import Rule
    from alarms.site import AlarmSite


@dataclass(frozen=True)
class Step:
    """Step ``index`` of a policy: which tier (0-based), which pass through the tiers
    (1-based; None once the repeats are spent and the last tier keeps paging)."""

    index: int
    tier: int
    pass_no: int | None
    targets: tuple[str, ...]
    wait: float
    tier_name: str = ""

    @property
    def continuing(self) -> bool:
        return self.pass_no is None


class Policy:
    def __init__(self, policy_id: str, spec: PolicySpec) -> None:
        self.id = policy_id
        self.spec = spec
        self.name = spec.name or policy_id
        self.tiers = spec.tiers
        self.repeat = spec.repeat
        self.keep_paging = spec.keep_paging

    @property
    def planned(self) -> int:
        """Steps before the continuing phase: every tier, ``1 + repeat`` times."""
        return len(self.tiers) * (self.repeat + 1)

    def step(self, index: int) -> Step | None:
        """Step ``index`` (0 = the first page), or None when the policy has stopped paging."""
        if index < 0:
            raise ValueError("steps are numbered from 0")
        tier_count = len(self.tiers)
        if index < self.planned:
            tier, pass_no = index % tier_count, index // tier_count + 1
        elif self.keep_paging:
            tier, pass_no = tier_count - 1, None
        else:
            return None
        spec = self.tiers[tier]
        return Step(index, tier, pass_no, spec.notify, spec.wait, spec.name)

    def describe(self) -> str:
        """``3 tiers, run 3 times, then tier 3 every 15 min until acknowledged``."""
        tier_count = len(self.tiers)
        runs = self.repeat + 1
        text = (
            f"{tier_count} tier{'s' if tier_count != 1 else ''}, "
            f"run {runs} time{'s' if runs != 1 else ''}"
        )
        if self.keep_paging:
            last_wait = minutes(self.tiers[-1].wait)
            text += f", then tier {tier_count} every {last_wait} until acknowledged"
        else:
            text += ", then no more pages"
        return text


def minutes(seconds: float) -> str:
    """``15 min``, ``90 s``, ``2 h``."""
    if seconds < 60 or seconds % 60:
        return f"{seconds:g} s"
    mins = int(seconds // 60)
    if mins >= 60 and not mins % 60:
        return f"{mins // 60} h"
    return f"{mins} min"


def build_policies(escalation: EscalationConfig) -> dict[str, Policy]:
    return {policy_id: Policy(policy_id, spec) for policy_id, spec in escalation.policies.items()}


@dataclass(frozen=True)
class Placement:
    """Where an alarm's equipment sits: its kind and location (for route matching)."""

    kind: EquipmentKind
    location: str


@dataclass(frozen=True)
class Choice:
    """The policy for an alarm and the route that chose it (None: the default policy)."""

    policy: str
    route: int | None


class Router:
    """First matching route wins; nothing matches: ``default_policy``."""

    def __init__(
        self,
        escalation: EscalationConfig,
        placements: Mapping[str, Placement] | None = None,
        rules: Mapping[str, Rule] | None = None,
    ) -> None:
        self.routes: Sequence[RouteSpec] = escalation.routes
        self.default = escalation.default_policy
        self.placements = dict(placements or {})
        self.rules = dict(rules or {})

    @classmethod
    def from_config(cls, escalation: EscalationConfig, config: AlarmSite | None) -> Router:
        """With the equipment's kinds and locations, and (when the configuration has an
        ``alarms:`` section) each rule's equipment, so that a device's communication loss
        matches the equipment it feeds."""
        if config is None:
            return cls(escalation)
        placements = {
            equipment.id: Placement(equipment.kind, location.id)
            for location in config.locations
            for equipment in location.equipment
        }
        rules: dict[str, Rule] = {}
        if config.alarms is not None:
            from alarms.rules import compile_rules

            rules = compile_rules(config).by_key()
        return cls(escalation, placements, rules)

    def equipment_of(self, view: AlarmView) -> tuple[str, ...]:
        rule = self.rules.get(view.key)
        if rule is not None and rule.equipment_ids:
            return rule.equipment_ids
        return (view.equipment,) if view.equipment else ()

    def route(self, view: AlarmView) -> Choice:
        equipment = self.equipment_of(view)
        for index, route in enumerate(self.routes):
            if self.matches(route.match, view, equipment):
                return Choice(route.policy, index)
        return Choice(self.default, None)

    def matches(self, match: RouteMatch, view: AlarmView, equipment: Sequence[str]) -> bool:
        if match.priority is not None and view.priority not in match.priority:
            return False
        if match.condition is not None and view.condition not in match.condition:
            return False
        if match.level is not None and view.level not in match.level:
            return False
        if match.rule is not None and not _glob(view.rule, match.rule):
            return False
        if match.key is not None and not _glob(view.key, match.key):
            return False
        if match.equipment is not None and not any(
            _glob(equipment_id, match.equipment) for equipment_id in equipment
        ):
            return False
        places = [self.placements[item] for item in equipment if item in self.placements]
        if match.equipment_kind is not None and not any(
            place.kind in match.equipment_kind for place in places
        ):
            return False
        return match.location is None or any(
            _glob(place.location, match.location) for place in places
        )


def _glob(value: str, patterns: Iterable[str]) -> bool:
    return any(fnmatchcase(value, pattern) for pattern in patterns)
