"""The configuration of paging: ``schedules:`` and ``escalation:`` (with ``notifiers:``,
``people:`` and ``groups:`` from :mod:`alarms.notify`), strict and cross-checked.

Pydantic checks each section on its own; :func:`check_paging` checks what refers to what
(a tier naming a person nobody configured, a route to a missing policy, a schedule rotating
an unknown person) and returns every problem with the path of the key to change, in the form
the configuration loader reports (``escalation.policies.night.tiers[0].notify[1]: unknown
person 'zoe' (people: alice, bob)``). A critical alarm must never go quiet while unacknowledged,
so a policy that stops paging after its repeats may not receive critical alarms.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime, time, timedelta
from fnmatch import fnmatchcase
from typing import TYPE_CHECKING, Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from alarms.model import ConditionKind, Level, Priority
from alarms.people import Group, Person
from monitor.core.durations import Duration, parse_duration
from monitor.core.model import EquipmentKind

if TYPE_CHECKING:
    from alarms.site import AlarmSite

PathKey = tuple[str | int, ...]
Issue = tuple[PathKey, str]

ID_PATTERN = r"^[a-z0-9][a-z0-9_.-]{0,63}$"
_IDENT = re.compile(ID_PATTERN)
TARGET_KINDS = ("person", "group", "schedule")
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# --- small types ---------------------------------------------------------------------------


def _tuple(value: Any) -> Any:
    """A single value where a list is allowed: ``priority: critical``."""
    if value is None or isinstance(value, list | tuple):
        return value
    return (value,)


def _clock_time(value: Any) -> Any:
    """YAML 1.1 reads an unquoted ``18:00`` as the number 1080 (base 60): refuse it rather
    than guess whether it meant minutes or seconds."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        raise ValueError('write times of day in quotes, e.g. "08:00" (YAML reads 8:00 as a number)')
    return value


def _rotation(value: Any) -> timedelta:
    """``daily``, ``weekly`` or a duration (``12h``, ``2d``) of whole minutes, at least 1 h."""
    if value == "daily":
        return timedelta(days=1)
    if value == "weekly":
        return timedelta(days=7)
    seconds = value.total_seconds() if isinstance(value, timedelta) else parse_duration(value)
    if seconds < 3600 or seconds % 60:
        raise ValueError("a rotation is daily, weekly or a duration of whole minutes, at least 1h")
    return timedelta(seconds=seconds)


def _zone(value: Any) -> Any:
    if value is None:
        return value
    try:
        ZoneInfo(str(value))
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"'{value}' is not a time zone name (e.g. 'Europe/Berlin')") from None
    return value


ClockTime = Annotated[time, BeforeValidator(_clock_time)]
Rotation = Annotated[timedelta, BeforeValidator(_rotation)]
ZoneName = Annotated[str | None, BeforeValidator(_zone)]
Globs = Annotated[tuple[str, ...] | None, BeforeValidator(_tuple)]


# --- schedules -------------------------------------------------------------------------------


class RestrictSpec(Strict):
    """When a layer applies, in the schedule's local time: weekdays and/or a window of the day
    (``start`` > ``end`` runs past midnight, e.g. 18:00-08:00). Outside it, lower layers apply."""

    days: Annotated[tuple[Weekday, ...] | None, BeforeValidator(_tuple)] = None
    start: ClockTime | None = None
    end: ClockTime | None = None


class LayerSpec(Strict):
    """A rotation: ``people`` take turns of ``rotation`` length, handing off at ``handoff``
    local time; ``people[0]``'s turn begins on ``start`` at ``handoff`` (and the rotation runs
    back in time from there too, so a layer always names someone)."""

    name: str = Field(default="", max_length=100)
    people: tuple[str, ...] = Field(min_length=1)
    rotation: Rotation = timedelta(days=7)
    handoff: ClockTime = time(8, 0)
    start: date
    restrict: RestrictSpec | None = None


class OverrideSpec(Strict):
    """``person`` is on call from ``start`` to ``end`` instead of the layers (a swap, cover for
    a holiday). Times without an offset are the schedule's local time."""

    person: str
    start: datetime
    end: datetime
    reason: str = Field(default="", max_length=200)


class ScheduleSpec(Strict):
    """An on-call schedule: layers (later ones on top where they name someone) and overrides
    (on top of all layers), in a named time zone (default: the site's)."""

    name: str = Field(default="", max_length=100)
    timezone: ZoneName = None
    layers: tuple[LayerSpec, ...] = Field(min_length=1)
    overrides: tuple[OverrideSpec, ...] = ()


# --- escalation ------------------------------------------------------------------------------


class TierSpec(Strict):
    """Page ``notify`` (``person:<id>``, ``group:<id>``, ``schedule:<id>``), then wait."""

    name: str = Field(default="", max_length=100)
    notify: Annotated[tuple[str, ...], BeforeValidator(_tuple)] = Field(min_length=1)
    wait: Duration = Field(default=900.0, ge=1.0)


class PolicySpec(Strict):
    """Tiers in order; the whole list runs ``1 + repeat`` times; then, with ``keep_paging``,
    the last tier is paged again every ``wait`` of its own until someone acknowledges."""

    name: str = Field(default="", max_length=100)
    tiers: tuple[TierSpec, ...] = Field(min_length=1, max_length=20)
    repeat: int = Field(default=2, ge=0, le=50)
    keep_paging: bool = True


class RouteMatch(Strict):
    """Every key given must match (a list: any of its values); globs for ids and keys."""

    priority: Annotated[tuple[Priority, ...] | None, BeforeValidator(_tuple)] = None
    condition: Annotated[tuple[ConditionKind, ...] | None, BeforeValidator(_tuple)] = None
    level: Annotated[tuple[Level, ...] | None, BeforeValidator(_tuple)] = None
    equipment_kind: Annotated[tuple[EquipmentKind, ...] | None, BeforeValidator(_tuple)] = None
    equipment: Globs = None
    location: Globs = None
    rule: Globs = None
    key: Globs = None


class RouteSpec(Strict):
    match: RouteMatch = RouteMatch()
    policy: str


class BundleSpec(Strict):
    """During an alarm flood, pages to one person within ``window`` go out as one message."""

    enabled: bool = True
    window: Duration = Field(default=30.0, ge=1.0, le=300.0)


class EscalationConfig(Strict):
    """``policies`` by id; ``routes`` tried in order (first match wins), else
    ``default_policy``."""

    policies: dict[str, PolicySpec] = Field(min_length=1)
    routes: tuple[RouteSpec, ...] = ()
    default_policy: str
    flood: BundleSpec = BundleSpec()
    skip_channels_for_updates: tuple[str, ...] | None = None
    """Channels not used for "back to normal" and "acknowledged" messages (nobody is woken by
    a call to hear that). Default: every ``twilio_voice`` notifier."""


class PagingConfig(Strict):
    """The five top-level sections paging reads, wherever they come from."""

    notifiers: dict[str, dict[str, Any]] = {}
    people: tuple[Person, ...] = ()
    groups: tuple[Group, ...] = ()
    schedules: dict[str, ScheduleSpec] = {}
    escalation: EscalationConfig | None = None

    @classmethod
    def of(cls, source: object) -> PagingConfig:
        """The sections from the root configuration, which has them as attributes (or a mapping,
        e.g. the YAML document); a missing section is empty."""
        names = ("notifiers", "people", "groups", "schedules", "escalation")
        if isinstance(source, Mapping):
            data = {n: source[n] for n in names if source.get(n) is not None}
        else:
            data = {n: getattr(source, n) for n in names if getattr(source, n, None) is not None}
        return cls.model_validate(data)


# --- cross-checks ------------------------------------------------------------------------------


def _known(names: Iterable[str]) -> str:
    listed = sorted(names)
    return ", ".join(listed) if listed else "none"


def _is_glob(text: str) -> bool:
    return any(ch in text for ch in "*?[")


def check_paging(paging: PagingConfig, config: AlarmSite | None = None) -> list[Issue]:
    """Every dangling reference, with the path of the key to change (empty: all is well)."""
    from alarms.notify.registry import describe, parse_settings

    issues: list[Issue] = []
    add = issues.append

    people = {p.id: p for p in paging.people}
    seen: set[str] = set()
    for i, person in enumerate(paging.people):
        if person.id in seen:
            add((("people", i, "id"), f"person id '{person.id}' is used twice"))
        seen.add(person.id)
        for j, channel in enumerate(person.channels):
            if channel not in paging.notifiers:
                add(
                    (
                        ("people", i, "channels", j),
                        f"person '{person.id}': unknown notifier '{channel}' "
                        f"(notifiers: {_known(paging.notifiers)})",
                    )
                )
    groups: set[str] = set()
    for i, group in enumerate(paging.groups):
        if group.id in groups:
            add((("groups", i, "id"), f"group id '{group.id}' is used twice"))
        groups.add(group.id)
        for j, member in enumerate(group.members):
            if member not in people:
                add(
                    (
                        ("groups", i, "members", j),
                        f"group '{group.id}': unknown person '{member}' (people: {_known(people)})",
                    )
                )
    for name, raw in paging.notifiers.items():
        try:
            parse_settings(raw)
        except ValidationError as exc:
            add((("notifiers", name), f"notifier '{name}': {describe(exc)}"))

    ident = _IDENT
    for sid, schedule in paging.schedules.items():
        here: PathKey = ("schedules", sid)
        if not ident.match(sid):
            add((here, f"'{sid}' is not a valid schedule id (lower case, digits, . _ -)"))
        for i, layer in enumerate(schedule.layers):
            for j, pid in enumerate(layer.people):
                if pid not in people:
                    add(
                        (
                            (*here, "layers", i, "people", j),
                            f"schedule '{sid}': unknown person '{pid}' (people: {_known(people)})",
                        )
                    )
        for i, override in enumerate(schedule.overrides):
            if override.person not in people:
                add(
                    (
                        (*here, "overrides", i, "person"),
                        f"schedule '{sid}': unknown person '{override.person}' "
                        f"(people: {_known(people)})",
                    )
                )
            if (override.start.tzinfo is None) != (override.end.tzinfo is None):
                add(
                    (
                        (*here, "overrides", i),
                        "give both start and end with an offset, or neither",
                    )
                )
            elif override.end <= override.start:
                add(((*here, "overrides", i, "end"), "an override must end after it starts"))

    esc = paging.escalation
    if esc is None:
        return issues
    base: PathKey = ("escalation",)
    policies = esc.policies
    for pid, policy in policies.items():
        if not ident.match(pid):
            add(((*base, "policies", pid), f"'{pid}' is not a valid policy id"))
        for i, tier in enumerate(policy.tiers):
            for j, target in enumerate(tier.notify):
                problem = _target_problem(target, people, groups, paging.schedules)
                if problem:
                    add(((*base, "policies", pid, "tiers", i, "notify", j), problem))
    if esc.default_policy not in policies:
        add(
            (
                (*base, "default_policy"),
                f"unknown policy '{esc.default_policy}' (policies: {_known(policies)})",
            )
        )
    elif not policies[esc.default_policy].keep_paging:
        add(
            (
                (*base, "default_policy"),
                f"policy '{esc.default_policy}' stops paging after its repeats (keep_paging: "
                "false), but a critical alarm may reach it: a critical alarm must be paged "
                "until acknowledged",
            )
        )
    equipment_ids: set[str] = set()
    location_ids: set[str] = set()
    if config is not None:
        for loc in config.locations:
            location_ids.add(loc.id)
            equipment_ids.update(eq.id for eq in loc.equipment)
    for i, route in enumerate(esc.routes):
        at: PathKey = (*base, "routes", i)
        policy_spec = policies.get(route.policy)
        if policy_spec is None:
            add(
                (
                    (*at, "policy"),
                    f"unknown policy '{route.policy}' (policies: {_known(policies)})",
                )
            )
        elif not policy_spec.keep_paging and (
            route.match.priority is None or Priority.CRITICAL in route.match.priority
        ):
            add(
                (
                    (*at, "policy"),
                    f"policy '{route.policy}' stops paging after its repeats (keep_paging: "
                    "false), but this route can send it critical alarms: add "
                    "'priority: [high, low]' to the match or keep paging",
                )
            )
        if config is None:
            continue
        for field, known, what in (
            ("equipment", equipment_ids, "equipment"),
            ("location", location_ids, "location"),
        ):
            values: Sequence[str] = getattr(route.match, field) or ()
            for j, value in enumerate(values):
                if not _is_glob(value) and value not in known:
                    add(
                        (
                            (*at, "match", field, j),
                            f"unknown {what} '{value}' ({what}: {_known(known)})",
                        )
                    )
                elif _is_glob(value) and not any(fnmatchcase(k, value) for k in known):
                    add(((*at, "match", field, j), f"'{value}' matches no {what}"))
    for j, channel in enumerate(esc.skip_channels_for_updates or ()):
        if channel not in paging.notifiers:
            add(
                (
                    (*base, "skip_channels_for_updates", j),
                    f"unknown notifier '{channel}' (notifiers: {_known(paging.notifiers)})",
                )
            )
    return issues


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


def update_skip_channels(paging: PagingConfig) -> frozenset[str]:
    """Channels not used for update messages: configured, or every voice notifier."""
    esc = paging.escalation
    if esc is not None and esc.skip_channels_for_updates is not None:
        return frozenset(esc.skip_channels_for_updates)
    return frozenset(n for n, raw in paging.notifiers.items() if raw.get("type") == "twilio_voice")


def never_bundled_channels(paging: PagingConfig) -> frozenset[str]:
    """Horns count alarms by their code: a page listing several alarms would confuse them."""
    return frozenset(n for n, raw in paging.notifiers.items() if raw.get("type") == "horn")
