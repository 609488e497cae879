"""From configuration to concrete rules: templates + role bindings + per-unit overrides.

One :class:`Rule` per alarm point, keyed ``<equipment>.<channel>/<rule>`` (device comm-loss:
``<device>/comm_loss``; checks of coldwatch itself: ``coldwatch/<check>``). The loader runs
:func:`compile_rules` as its cross-check of the ``alarms:`` section and reports every issue
with the path of the key to change; the engine runs it again on a configuration that passed.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from typing import TYPE_CHECKING, Any, Final

from alarms.config import (
    AlarmsConfig,
    CommLossSpec,
    EquipmentAlarms,
    LimitSpec,
    LimitValue,
    RoleSpec,
    RuleSpec,
    TemplateSpec,
)
from alarms.model import NEVER_SUPPRESSED, ConditionKind, Level, Priority
from alarms.notify.watch import notifier_alarm_key, notifier_source
from alarms.templates import (
    BUILTIN,
    CALIBRATION_DUE,
    COMM_LOSS_DEFAULTS,
    NOTIFIER_FAILING,
    PER_ITEM_SYSTEM_ALARMS,
    SYSTEM_ALARMS,
)
from monitor.core.model import DISCRETE_QUANTITIES, Quantity

if TYPE_CHECKING:
    from alarms.site import AlarmSite
    from monitor.config.sections import Channel, Equipment

PathKey = tuple[str | int, ...]
Issue = tuple[PathKey, str]
At = Callable[[str], PathKey]  # the path to report an issue about a rule's field at

_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
_COMMON: Final = frozenset(
    {
        "condition",
        "role",
        "channel",
        "name",
        "enabled",
        "priority",
        "latching",
        "realarm_after",
        "realarm_max",
        "contingency",
        "unit",
    }
)
_DELAYS: Final = frozenset({"on_delay", "off_delay"})
ALLOWED: Final[dict[str, frozenset[str]]] = {
    "limit": _COMMON | _DELAYS | {"low_low", "low", "high", "high_high", "deadband"},
    "rate": _COMMON | _DELAYS | {"rise", "fall", "window", "min_points"},
    "stale": _COMMON | {"after"},
    "quality": _COMMON | _DELAYS | {"qualities"},
    "discrete": _COMMON | _DELAYS | {"alarm_when"},
    "status": _COMMON | _DELAYS | {"bits", "values", "ok_values"},
    "deviation": _COMMON | _DELAYS | {"reference", "profile", "tolerance", "max_reference_age"},
}
_NUMERIC_EXCLUDED: Final = DISCRETE_QUANTITIES | {Quantity.TEXT, Quantity.STATUS_CODE}
_LEVEL_ORDER: Final = (Level.LOW_LOW, Level.LOW, Level.HIGH, Level.HIGH_HIGH)


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
        return {r.key: r for r in self.rules}


def merge_rule(base: RuleSpec, over: RuleSpec) -> RuleSpec:
    """``over``'s explicitly set fields on top of ``base`` (``null`` clears a field)."""
    update = {name: getattr(over, name) for name in over.model_fields_set}
    return base.model_copy(update=update)


def _limit(value: LimitValue | None, default: Priority) -> tuple[float, Priority] | None:
    if value is None:
        return None
    if isinstance(value, LimitSpec):
        return value.at, value.priority or default
    return float(value), default


class _Compiler:
    def __init__(self, cfg: AlarmSite) -> None:
        self.cfg = cfg
        assert cfg.alarms is not None
        self.settings: AlarmsConfig = cfg.alarms
        self.issues: list[Issue] = []
        self.rules: list[Rule] = []
        self.templates: dict[str, TemplateSpec] = {}
        self._template_paths: dict[str, PathKey] = {}

    def issue(self, path: PathKey, message: str) -> None:
        self.issues.append((path, message))

    # --- templates -------------------------------------------------------------------

    def resolve_templates(self) -> None:
        user = self.settings.templates
        for name in user:
            if not _ID.match(name):
                self.issue(("alarms", "templates", name), f"'{name}' is not a valid template name")
        done: dict[str, TemplateSpec | None] = {}

        def resolve(name: str, chain: tuple[str, ...]) -> TemplateSpec | None:
            if name in done:
                return done[name]
            spec = user.get(name)
            if spec is None:
                return BUILTIN.get(name)
            if name in chain:
                self.issue(
                    ("alarms", "templates", name, "extends"),
                    f"templates extend each other in a loop: {' -> '.join((*chain, name))}",
                )
                return None
            if spec.extends is not None:
                base = resolve(spec.extends, (*chain, name))
                if base is None and spec.extends not in user:
                    self.issue(
                        ("alarms", "templates", name, "extends"),
                        f"template '{spec.extends}' does not exist "
                        f"(templates: {', '.join(sorted({*BUILTIN, *user}))})",
                    )
            else:
                base = BUILTIN.get(name, TemplateSpec())
            base = base or TemplateSpec()
            rules = dict(base.rules)
            for rule_id, rule in spec.rules.items():
                rules[rule_id] = merge_rule(rules[rule_id], rule) if rule_id in rules else rule
            merged = TemplateSpec(roles={**base.roles, **spec.roles}, rules=rules)
            done[name] = merged
            return merged

        for name in {*BUILTIN, *user}:
            resolved = resolve(name, ())
            if resolved is not None:
                self.templates[name] = resolved

    # --- equipment ---------------------------------------------------------------------

    def compile_equipment(self) -> None:
        known: set[str] = set()
        for i, loc in enumerate(self.cfg.locations):
            for j, eq in enumerate(loc.equipment):
                known.add(eq.id)
                self.compile_unit(eq, ("locations", i, "equipment", j))
        for eq_id in self.settings.equipment:
            if eq_id not in known:
                self.issue(
                    ("alarms", "equipment", eq_id),
                    f"no such equipment (equipment: {', '.join(sorted(known)) or 'none'})",
                )

    def compile_unit(self, eq: Equipment, eq_path: PathKey) -> None:
        own = self.settings.equipment.get(eq.id, EquipmentAlarms())
        here: PathKey = ("alarms", "equipment", eq.id)
        where = here if eq.id in self.settings.equipment else eq_path
        template_name = own.template or eq.kind.value
        template = self.templates.get(template_name)
        if template is None:
            self.issue(
                (*here, "template"),
                f"template '{template_name}' does not exist "
                f"(templates: {', '.join(sorted(self.templates))})",
            )
            return
        channels = {ch.id: ch for ch in eq.channels}
        bound, ambiguous = self.bind(eq, template, own, channels, where)
        rules = dict(template.rules)
        for rule_id, rule in own.rules.items():
            if not _ID.match(rule_id):
                self.issue((*here, "rules", rule_id), f"'{rule_id}' is not a valid rule id")
                continue
            rules[rule_id] = merge_rule(rules[rule_id], rule) if rule_id in rules else rule
        for rule_id, spec in rules.items():
            if spec.enabled is False:
                continue
            own_rule = own.rules.get(rule_id)
            rule_path: PathKey = (*here, "rules", rule_id) if own_rule is not None else where
            label = "" if own_rule is not None else f"template '{template_name}' rule '{rule_id}': "

            at = _field_path(own_rule, rule_path)
            if not self.check_fields(spec, at, label):
                continue
            targets = self.targets(spec, bound, ambiguous, channels, at, label, here)
            for ch_id in targets:
                self.make_rule(eq, channels[ch_id], rule_id, spec, bound, channels, at, label)

    def check_fields(self, spec: RuleSpec, at: At, label: str) -> bool:
        """The rule names its condition and sets only fields that condition uses."""
        if spec.condition is None:
            self.issue(at("condition"), f"{label}'condition' is required")
            return False
        wrong = [
            name
            for name in type(spec).model_fields
            if getattr(spec, name) is not None and name not in ALLOWED[spec.condition]
        ]
        for name in wrong:
            self.issue(at(name), f"{label}'{name}' does not apply to a {spec.condition} rule")
        return not wrong

    def bind(
        self,
        eq: Equipment,
        template: TemplateSpec,
        own: EquipmentAlarms,
        channels: dict[str, Channel],
        where: PathKey,
    ) -> tuple[dict[str, tuple[str, ...]], dict[str, list[str]]]:
        bound: dict[str, tuple[str, ...]] = {}
        ambiguous: dict[str, list[str]] = {}
        roles = dict(template.roles)
        for role in own.bind:
            roles.setdefault(role, RoleSpec())
        for role, spec in roles.items():
            if role in own.bind:
                value = own.bind[role]
                ids = (value,) if isinstance(value, str) else tuple(dict.fromkeys(value))
                missing = [c for c in ids if c not in channels]
                if missing:
                    self.issue(
                        ("alarms", "equipment", eq.id, "bind", role),
                        f"channel '{missing[0]}' does not exist "
                        f"(channels: {', '.join(channels) or 'none'})",
                    )
                    continue
                bound[role] = ids
            elif role in channels:
                bound[role] = (role,)
            elif spec.quantity is not None:
                found = [c.id for c in eq.channels if c.quantity == spec.quantity]
                if len(found) == 1:
                    bound[role] = (found[0],)
                elif found:
                    ambiguous[role] = found
            if spec.required and role not in bound:
                if role in ambiguous:
                    continue  # reported by the rules that use it
                what = f" (no {spec.quantity.value} channel)" if spec.quantity else ""
                self.issue(
                    where,
                    f"template '{own.template or eq.kind.value}' needs a channel for role "
                    f"'{role}'{what}: bind it in alarms.equipment.{eq.id}.bind",
                )
        return bound, ambiguous

    def targets(
        self,
        spec: RuleSpec,
        bound: dict[str, tuple[str, ...]],
        ambiguous: dict[str, list[str]],
        channels: dict[str, Channel],
        at: At,
        label: str,
        here: PathKey,
    ) -> tuple[str, ...]:
        if spec.channel is not None and spec.role is not None:
            self.issue(at("channel"), f"{label}give either 'role' or 'channel', not both")
            return ()
        if spec.channel is not None:
            ids = (spec.channel,) if isinstance(spec.channel, str) else spec.channel
            for c in ids:
                if c not in channels:
                    self.issue(
                        at("channel"),
                        f"{label}channel '{c}' does not exist "
                        f"(channels: {', '.join(channels) or 'none'})",
                    )
                    return ()
            return tuple(dict.fromkeys(ids))
        if spec.role is None:
            self.issue(at("role"), f"{label}a rule needs 'role' or 'channel'")
            return ()
        if spec.role in ambiguous:  # reported once, for the first rule that needs it
            found = ambiguous.pop(spec.role)
            self.issue(
                at("role"),
                f"role '{spec.role}' matches {len(found)} channels ({', '.join(found)}): "
                f"bind it in {'.'.join(str(p) for p in here)}.bind",
            )
            return ()
        return bound.get(spec.role, ())

    def make_rule(
        self,
        eq: Equipment,
        channel: Channel,
        rule_id: str,
        spec: RuleSpec,
        bound: dict[str, tuple[str, ...]],
        channels: dict[str, Channel],
        at: At,
        label: str,
    ) -> None:
        assert spec.condition is not None
        kind = ConditionKind(spec.condition)
        before = len(self.issues)
        channel_id = f"{eq.id}.{channel.id}"
        measured = (ConditionKind.LIMIT, ConditionKind.RATE, ConditionKind.DEVIATION)
        if kind in measured and channel.quantity in _NUMERIC_EXCLUDED:
            self.issue(
                at("condition"),
                f"{label}a {kind.value} rule needs a measured value; channel "
                f"'{channel.id}' is {channel.quantity.value}",
            )
        if kind is ConditionKind.DISCRETE and not (
            channel.quantity in DISCRETE_QUANTITIES or channel.unit == "bool"
        ):
            self.issue(
                at("condition"),
                f"{label}a discrete rule needs an on/off channel; channel '{channel.id}' is "
                f"{channel.quantity.value}",
            )
        if spec.unit is not None and spec.unit != channel.unit:
            self.issue(
                at("unit"),
                f"{label}the rule's values are in {spec.unit} but channel '{channel.id}' is "
                f"in {channel.unit}: set 'unit: {channel.unit}' and values in {channel.unit}",
            )
        priority = spec.priority or Priority.HIGH
        limits: dict[Level, tuple[float, Priority]] = {}
        reference = profile_start = None
        if kind is ConditionKind.LIMIT:
            limits = self.check_limits(spec, priority, at, label)
        elif kind is ConditionKind.RATE:
            if spec.rise is None and spec.fall is None:
                self.issue(at("rise"), f"{label}a rate rule needs 'rise' or 'fall' (per minute)")
            if spec.window is not None and spec.window <= 0:
                self.issue(at("window"), f"{label}'window' must be longer than 0")
        elif kind is ConditionKind.STALE:
            if not spec.after:
                self.issue(at("after"), f"{label}a stale rule needs 'after' (e.g. 10m)")
        elif kind is ConditionKind.STATUS:
            if spec.bits is not None and spec.values is not None:
                self.issue(at("bits"), f"{label}give either 'bits' or 'values', not both")
            for bit in spec.bits or ():
                if not 0 <= bit <= 63:
                    self.issue(at("bits"), f"{label}bit {bit} is not between 0 and 63")
        elif kind is ConditionKind.DEVIATION:
            reference, profile_start = self.check_deviation(
                spec, channel, bound, channels, eq, at, label
            )
        if len(self.issues) > before:
            return
        realarm = self.settings.realarm_after if spec.realarm_after is None else spec.realarm_after
        extra = tuple(c for c in (reference, profile_start) if c is not None)
        self.rules.append(
            Rule(
                key=f"{channel_id}/{rule_id}",
                rule_id=rule_id,
                kind=kind,
                name=spec.name or rule_id.replace("_", " "),
                priority=priority,
                contingency=spec.contingency or "",
                channels=(channel_id, *extra),
                **_channel_fields(channel_id, eq, channel),
                latching=bool(spec.latching),
                realarm_after=realarm or None,
                realarm_max=spec.realarm_max
                if spec.realarm_max is not None
                else self.settings.realarm_max,
                spec=spec,
                limits=limits,
                reference=reference,
                profile_start=profile_start,
            )
        )

    def check_limits(
        self, spec: RuleSpec, priority: Priority, at: At, label: str
    ) -> dict[Level, tuple[float, Priority]]:
        limits: dict[Level, tuple[float, Priority]] = {}
        for level in _LEVEL_ORDER:
            value = _limit(getattr(spec, level.value), priority)
            if value is not None:
                limits[level] = value
        if not limits:
            self.issue(
                at("high"),
                f"{label}a limit rule needs at least one of low_low, low, high, high_high",
            )
            return limits
        ordered = [(lvl, v[0]) for lvl, v in limits.items()]
        for (lo, lo_v), (hi, hi_v) in itertools.pairwise(ordered):
            if lo_v >= hi_v:
                self.issue(
                    at(hi.value),
                    f"{label}{hi.value} ({hi_v:g}) must be above {lo.value} ({lo_v:g})",
                )
        return limits

    def check_deviation(
        self,
        spec: RuleSpec,
        channel: Channel,
        bound: dict[str, tuple[str, ...]],
        channels: dict[str, Channel],
        eq: Equipment,
        at: At,
        label: str,
    ) -> tuple[str | None, str | None]:
        if spec.tolerance is None:
            self.issue(at("tolerance"), f"{label}a deviation rule needs 'tolerance'")
        if (spec.reference is None) == (spec.profile is None):
            self.issue(
                at("reference"),
                f"{label}a deviation rule needs either 'reference' (a program channel) or "
                "'profile'",
            )
            return None, None

        def resolve(name: str, key: str) -> str | None:
            ids = bound.get(name) or ((name,) if name in channels else ())
            if len(ids) != 1:
                self.issue(
                    at(key),
                    f"{label}'{name}' names no channel of {eq.id}: bind role '{name}' in "
                    f"alarms.equipment.{eq.id}.bind, or give a channel id",
                )
                return None
            return f"{eq.id}.{ids[0]}"

        if spec.reference is not None:
            ref = resolve(spec.reference, "reference")
            if ref is not None:
                ref_unit = channels[ref.split(".", 1)[1]].unit
                if ref_unit != channel.unit:
                    self.issue(
                        at("reference"),
                        f"{label}the reference is in {ref_unit}, channel '{channel.id}' in "
                        f"{channel.unit}",
                    )
            return ref, None
        assert spec.profile is not None
        times = [t for t, _ in spec.profile.points]
        if times != sorted(times) or len(set(times)) != len(times):
            self.issue(at("profile"), f"{label}profile points must be in increasing time order")
        return None, resolve(spec.profile.start, "profile")

    # --- devices and coldwatch itself ---------------------------------------------------

    def compile_devices(self) -> None:
        feeds: dict[str, list[str]] = {}
        for eq, ch in self.cfg.channels().values():
            feeds.setdefault(ch.source.device, [])
            if eq.id not in feeds[ch.source.device]:
                feeds[ch.source.device].append(eq.id)
        known = {d.id for d in self.cfg.devices}
        for dev_id in self.settings.devices:
            if dev_id not in known:
                self.issue(
                    ("alarms", "devices", dev_id),
                    f"no such device (devices: {', '.join(sorted(known)) or 'none'})",
                )
        for dev in self.cfg.devices:
            if not dev.enabled:
                continue
            spec = _merge_comm(self.settings.comm_loss, self.settings.devices.get(dev.id))
            if spec.get("enabled") is False:
                continue
            equipment = tuple(feeds.get(dev.id, ()))
            self.rules.append(
                self.event_rule(
                    f"{dev.id}/comm_loss",
                    "comm_loss",
                    ConditionKind.COMM_LOSS,
                    dev.id,
                    spec,
                    "comm loss",
                    ("device_down",),
                    ("device_up",),
                    equipment=equipment,
                    devices=(dev.id,),
                )
            )

    def compile_system(self) -> None:
        names = (*SYSTEM_ALARMS, *PER_ITEM_SYSTEM_ALARMS)
        for name in self.settings.system:
            if name not in names:
                self.issue(
                    ("alarms", "system", name),
                    f"no such system alarm (system alarms: {', '.join(names)})",
                )
        for name, alarm in SYSTEM_ALARMS.items():
            defaults = {
                "priority": alarm.priority,
                "on_delay": alarm.on_delay,
                "latching": name == "engine_fault",
                "contingency": alarm.contingency,
            }
            own = self.settings.system.get(name)
            spec = {**defaults, **(own.model_dump(exclude_none=True) if own else {})}
            if spec.get("enabled") is False:
                continue
            self.rules.append(
                self.event_rule(
                    f"coldwatch/{name}",
                    name,
                    ConditionKind.SYSTEM,
                    "coldwatch",
                    spec,
                    alarm.text,
                    alarm.set_kinds,
                    alarm.clear_kinds,
                    pulse=alarm.pulse,
                )
            )
        self.compile_notifier_checks()
        self.compile_calibration()

    def system_spec(self, name: str, defaults: dict[str, Any]) -> dict[str, Any] | None:
        """A system alarm's settings: its defaults under ``alarms.system.<name>``; None when
        disabled there."""
        own = self.settings.system.get(name)
        spec = {**defaults, **(own.model_dump(exclude_none=True) if own else {})}
        return None if spec.get("enabled") is False else spec

    def compile_notifier_checks(self) -> None:
        """``coldwatch/notifier_failing/<name>`` for every configured notifier."""
        alarm = NOTIFIER_FAILING
        spec = self.system_spec(
            "notifier_failing",
            {"priority": alarm.priority, "on_delay": 0.0, "contingency": alarm.contingency},
        )
        if spec is None:
            return
        for name in self.cfg.notifiers:
            self.rules.append(
                self.event_rule(
                    notifier_alarm_key(name),
                    "notifier_failing",
                    ConditionKind.SYSTEM,
                    notifier_source(name),
                    spec,
                    f"notifier '{name}' {alarm.text}",
                    alarm.set_kinds,
                    alarm.clear_kinds,
                )
            )

    def compile_calibration(self) -> None:
        """``<channel>/calibration_due`` for every channel whose sensor has a due date."""
        spec = self.system_spec("calibration_due", dict(CALIBRATION_DUE))
        if spec is None:
            return
        taken = {r.key for r in self.rules}
        for channel_id, (eq, channel) in self.cfg.channels().items():
            due = channel.sensor.calibration_due
            if due is None:
                continue
            key = f"{channel_id}/calibration_due"
            if key in taken:
                self.issue(
                    ("alarms", "equipment", eq.id, "rules", "calibration_due"),
                    "rule id 'calibration_due' is taken by the calibration alarm of "
                    f"channel '{channel.id}': choose another id",
                )
                continue
            realarm = spec.get("realarm_after")
            self.rules.append(
                Rule(
                    key=key,
                    rule_id="calibration_due",
                    kind=ConditionKind.CALIBRATION,
                    name=f"calibration due {due.isoformat()}",
                    priority=Priority(spec["priority"]),
                    contingency=spec.get("contingency") or "",
                    channels=(channel_id,),
                    **_channel_fields(channel_id, eq, channel),
                    latching=bool(spec.get("latching")),
                    realarm_after=(self.settings.realarm_after if realarm is None else realarm)
                    or None,
                    realarm_max=self.settings.realarm_max,
                )
            )

    def event_rule(
        self,
        key: str,
        rule_id: str,
        kind: ConditionKind,
        source: str,
        spec: dict[str, Any],
        name: str,
        set_kinds: tuple[str, ...],
        clear_kinds: tuple[str, ...],
        *,
        equipment: tuple[str, ...] = (),
        devices: tuple[str, ...] = (),
        pulse: bool = False,
    ) -> Rule:
        realarm = spec.get("realarm_after")
        realarm = self.settings.realarm_after if realarm is None else realarm
        return Rule(
            key=key,
            rule_id=rule_id,
            kind=kind,
            source=source,
            name=name,
            priority=Priority(spec["priority"]),
            contingency=spec.get("contingency") or "",
            devices=devices,
            equipment=equipment[0] if len(equipment) == 1 else None,
            equipment_ids=equipment,
            latching=bool(spec.get("latching")),
            realarm_after=realarm or None,
            realarm_max=self.settings.realarm_max,
            spec=RuleSpec(on_delay=spec.get("on_delay") or 0.0),
            set_kinds=set_kinds,
            clear_kinds=clear_kinds,
            pulse=pulse,
        )

    # --- inhibition ----------------------------------------------------------------------

    def compile_inhibits(self) -> list[InhibitRule]:
        out: list[InhibitRule] = []
        keys = [r.key for r in self.rules]
        seen: set[str] = set()
        for i, spec in enumerate(self.settings.inhibit):
            path: PathKey = ("alarms", "inhibit", i)
            ident = spec.id or f"inhibit-{i + 1}"
            if ident in seen:
                self.issue((*path, "id"), f"duplicate inhibit id '{ident}'")
            seen.add(ident)
            parents: list[str] = []
            for k, pattern in enumerate(spec.when):
                hits = [key for key in keys if fnmatchcase(key, pattern)]
                if not hits:
                    self.issue(
                        (*path, "when", k),
                        f"'{pattern}' matches no alarm (alarm keys look like "
                        "'freezer-07.cabinet_temp/warm', 'tsx-07/comm_loss', "
                        "'coldwatch/disk_low')",
                    )
                parents.extend(h for h in hits if h not in parents)
            kinds = {ConditionKind(c) for c in spec.suppress.conditions} - NEVER_SUPPRESSED
            children = [
                r.key
                for r in self.rules
                if r.kind in kinds
                and r.key not in parents
                and (
                    _any_match(r.equipment_ids, spec.suppress.equipment)
                    or _any_match(r.devices, spec.suppress.devices)
                )
            ]
            out.append(
                InhibitRule(
                    ident, tuple(parents), tuple(children), spec.hold, spec.first_out_window
                )
            )
        return out

    def run(self) -> RuleSet:
        s = self.settings
        if s.flood.end_below > s.flood.start_above:
            self.issue(
                ("alarms", "flood", "end_below"),
                f"end_below ({s.flood.end_below}) must not exceed start_above "
                f"({s.flood.start_above})",
            )
        self.resolve_templates()
        self.compile_equipment()
        self.compile_devices()
        self.compile_system()
        inhibits = self.compile_inhibits()
        return RuleSet(tuple(self.rules), tuple(inhibits), s, tuple(self.issues))


def _channel_fields(channel_id: str, eq: Equipment, channel: Channel) -> dict[str, Any]:
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


def _field_path(own_rule: RuleSpec | None, rule_path: PathKey) -> At:
    """Issues about a field point at the unit's own setting of it when there is one."""

    def at(name: str) -> PathKey:
        if own_rule is not None and name in own_rule.model_fields_set:
            return (*rule_path, name)
        return rule_path

    return at


def _merge_comm(*layers: CommLossSpec | None) -> dict[str, Any]:
    merged: dict[str, Any] = dict(COMM_LOSS_DEFAULTS)
    for layer in layers:
        if layer is not None:
            merged.update(layer.model_dump(exclude_none=True))
    return merged


def _any_match(names: Iterable[str], patterns: Iterable[str]) -> bool:
    pats = tuple(patterns)
    return any(fnmatchcase(n, p) for n in names for p in pats)


def compile_rules(cfg: AlarmSite) -> RuleSet:
    """Every rule of the configuration's ``alarms:`` section, and every issue found."""
    if cfg.alarms is None:
        return RuleSet((), (), AlarmsConfig(), ())
    return _Compiler(cfg).run()
