"""The cross-checks of the paging configuration: what refers to what.

Pydantic checks each section on its own (:mod:`alarms.escalation.config`); :func:`check_paging`
finds every dangling reference (a tier naming a person nobody configured, a route to a missing
policy, a schedule rotating an unknown person) and returns each problem with the path of the key
to change, in the form the configuration loader reports
(``escalation.policies.night.tiers[0].notify[1]: unknown person 'zoe' (people: alice, bob)``).
A critical alarm must never go quiet while unacknowledged, so a policy that stops paging after
its repeats may not receive critical alarms. One small function per section.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from fnmatch import fnmatchcase
from typing import TYPE_CHECKING

from pydantic import ValidationError

from alarms.escalation.config import (
    ID_PATTERN,
    EscalationConfig,
    Issue,
    PagingConfig,
    PathKey,
)
from alarms.model import Priority
from alarms.people import Person

if TYPE_CHECKING:
    from alarms.site import AlarmSite

TARGET_KINDS = ("person", "group", "schedule")
_ID = re.compile(ID_PATTERN)


def check_paging(paging: PagingConfig, config: AlarmSite | None = None) -> list[Issue]:
    """Every dangling reference, with the path of the key to change (empty: all is well)."""
    people = {person.id: person for person in paging.people}
    issues = [
        *_people(paging),
        *_groups(paging, people),
        *_notifiers(paging),
        *_schedules(paging, people),
    ]
    escalation = paging.escalation
    if escalation is None:
        return issues
    group_ids = {group.id for group in paging.groups}
    issues += _policies(escalation, people, group_ids, paging.schedules)
    issues += _default_policy(escalation)
    issues += _routes(escalation, config)
    issues += _skip_channels(escalation, paging.notifiers)
    return issues


def _people(paging: PagingConfig) -> list[Issue]:
    issues: list[Issue] = []
    seen: set[str] = set()
    for index, person in enumerate(paging.people):
        issues += _used_twice(("people", index, "id"), "person", person.id, seen)
        for channel_index, channel in enumerate(person.channels):
            if channel not in paging.notifiers:
                issues.append(
                    (
                        ("people", index, "channels", channel_index),
                        f"person '{person.id}': unknown notifier '{channel}' "
                        f"(notifiers: {_known(paging.notifiers)})",
                    )
                )
    return issues


def _groups(paging: PagingConfig, people: Mapping[str, Person]) -> list[Issue]:
    issues: list[Issue] = []
    seen: set[str] = set()
    for index, group in enumerate(paging.groups):
        issues += _used_twice(("groups", index, "id"), "group", group.id, seen)
        for member_index, member in enumerate(group.members):
            if member not in people:
                issues.append(
                    (
                        ("groups", index, "members", member_index),
                        f"group '{group.id}': unknown person '{member}' (people: {_known(people)})",
                    )
                )
    return issues


def _notifiers(paging: PagingConfig) -> list[Issue]:
    from alarms.notify.registry import describe, parse_settings

    issues: list[Issue] = []
    for name, raw in paging.notifiers.items():
        try:
            parse_settings(raw)
        except ValidationError as exc:
            issues.append((("notifiers", name), f"notifier '{name}': {describe(exc)}"))
    return issues


def _schedules(paging: PagingConfig, people: Mapping[str, Person]) -> list[Issue]:
    issues: list[Issue] = []
    for schedule_id, schedule in paging.schedules.items():
        here: PathKey = ("schedules", schedule_id)
        if not _ID.match(schedule_id):
            issues.append(
                (here, f"'{schedule_id}' is not a valid schedule id (lower case, digits, . _ -)")
            )
        for layer_index, layer in enumerate(schedule.layers):
            for person_index, person_id in enumerate(layer.people):
                if person_id not in people:
                    issues.append(
                        (
                            (*here, "layers", layer_index, "people", person_index),
                            f"schedule '{schedule_id}': unknown person '{person_id}' "
                            f"(people: {_known(people)})",
                        )
                    )
        for index, override in enumerate(schedule.overrides):
            if override.person not in people:
                issues.append(
                    (
                        (*here, "overrides", index, "person"),
                        f"schedule '{schedule_id}': unknown person '{override.person}' "
                        f"(people: {_known(people)})",
                    )
                )
            if (override.start.tzinfo is None) != (override.end.tzinfo is None):
                issues.append(
                    (
                        (*here, "overrides", index),
                        "give both start and end with an offset, or neither",
                    )
                )
            elif override.end <= override.start:
                issues.append(
                    ((*here, "overrides", index, "end"), "an override must end after it starts")
                )
    return issues


def _policies(
    escalation: EscalationConfig,
    people: Mapping[str, Person],
    group_ids: set[str],
    schedules: Mapping[str, object],
) -> list[Issue]:
    issues: list[Issue] = []
    for policy_id, policy in escalation.policies.items():
        here: PathKey = ("escalation", "policies", policy_id)
        if not _ID.match(policy_id):
            issues.append((here, f"'{policy_id}' is not a valid policy id"))
        for tier_index, tier in enumerate(policy.tiers):
            for target_index, target in enumerate(tier.notify):
                problem = _target_problem(target, people, group_ids, schedules)
                if problem:
                    issues.append(((*here, "tiers", tier_index, "notify", target_index), problem))
    return issues


def _default_policy(escalation: EscalationConfig) -> list[Issue]:
    here: PathKey = ("escalation", "default_policy")
    policies = escalation.policies
    default = escalation.default_policy
    if default not in policies:
        return [(here, f"unknown policy '{default}' (policies: {_known(policies)})")]
    if not policies[default].keep_paging:
        return [
            (
                here,
                f"policy '{default}' stops paging after its repeats (keep_paging: "
                "false), but a critical alarm may reach it: a critical alarm must be paged "
                "until acknowledged",
            )
        ]
    return []


def _routes(escalation: EscalationConfig, config: AlarmSite | None) -> list[Issue]:
    issues: list[Issue] = []
    policies = escalation.policies
    equipment_ids: set[str] = set()
    location_ids: set[str] = set()
    if config is not None:
        for location in config.locations:
            location_ids.add(location.id)
            equipment_ids.update(equipment.id for equipment in location.equipment)
    for index, route in enumerate(escalation.routes):
        here: PathKey = ("escalation", "routes", index)
        policy_spec = policies.get(route.policy)
        if policy_spec is None:
            issues.append(
                (
                    (*here, "policy"),
                    f"unknown policy '{route.policy}' (policies: {_known(policies)})",
                )
            )
        elif not policy_spec.keep_paging and (
            route.match.priority is None or Priority.CRITICAL in route.match.priority
        ):
            issues.append(
                (
                    (*here, "policy"),
                    f"policy '{route.policy}' stops paging after its repeats (keep_paging: "
                    "false), but this route can send it critical alarms: add "
                    "'priority: [high, low]' to the match or keep paging",
                )
            )
        if config is None:
            continue
        for field, known in (("equipment", equipment_ids), ("location", location_ids)):
            values: Sequence[str] = getattr(route.match, field) or ()
            for value_index, value in enumerate(values):
                at: PathKey = (*here, "match", field, value_index)
                if not _is_glob(value) and value not in known:
                    issues.append((at, f"unknown {field} '{value}' ({field}: {_known(known)})"))
                elif _is_glob(value) and not any(fnmatchcase(name, value) for name in known):
                    issues.append((at, f"'{value}' matches no {field}"))
    return issues


def _skip_channels(escalation: EscalationConfig, notifiers: Mapping[str, object]) -> list[Issue]:
    return [
        (
            ("escalation", "skip_channels_for_updates", index),
            f"unknown notifier '{channel}' (notifiers: {_known(notifiers)})",
        )
        for index, channel in enumerate(escalation.skip_channels_for_updates or ())
        if channel not in notifiers
    ]


def _used_twice(path: PathKey, kind: str, item_id: str, seen: set[str]) -> list[Issue]:
    """The issue of an id already in ``seen`` (then adds it there)."""
    repeated = item_id in seen
    seen.add(item_id)
    return [(path, f"{kind} id '{item_id}' is used twice")] if repeated else []


def _target_problem(
    target: str, people: Mapping[str, Person], groups: set[str], schedules: Mapping[str, object]
) -> str | None:
    kind, sep, name = target.partition(":")
    if not sep or kind not in TARGET_KINDS:
        return f"'{target}' is not a target: write person:<id>, group:<id> or schedule:<id>"
    known: Iterable[str] = {"person": people, "group": groups, "schedule": schedules}[kind]
    if name not in known:
        plural = {"person": "people", "group": "groups", "schedule": "schedules"}[kind]
        return f"unknown {kind} '{name}' ({plural}: {_known(known)})"
    return None


def _known(names: Iterable[str]) -> str:
    listed = sorted(names)
    return ", ".join(listed) if listed else "none"


def _is_glob(text: str) -> bool:
    return any(char in text for char in "*?[")
