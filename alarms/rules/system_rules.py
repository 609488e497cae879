"""The rules that watch no equipment channel's value: each device's comm loss
(``<device>/comm_loss``), the checks of coldwatch itself (``coldwatch/<check>``), one per
notifier (``coldwatch/notifier_failing/<name>``) and a calibration due date per channel."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from alarms.config import AlarmsConfig, CommLossSpec, RuleSpec
from alarms.model import ConditionKind, Priority
from alarms.notify.watch import notifier_alarm_key, notifier_source
from alarms.rules.model import Issue, Rule, channel_fields, realarm_after
from alarms.rules.report import unknown_names
from alarms.rules.system_alarms import (
    CALIBRATION_DUE,
    COMM_LOSS_DEFAULTS,
    NOTIFIER_FAILING,
    PER_ITEM_SYSTEM_ALARMS,
    SYSTEM_ALARMS,
)

if TYPE_CHECKING:
    from alarms.site import AlarmSite


def compile_devices(site: AlarmSite, settings: AlarmsConfig, issues: list[Issue]) -> list[Rule]:
    """``<device>/comm_loss`` for every enabled device, unless disabled in the section."""
    feeds: dict[str, list[str]] = {}
    names: dict[str, str] = {}
    for eq, ch in site.channels().values():
        feeds.setdefault(ch.source.device, [])
        if eq.id not in feeds[ch.source.device]:
            feeds[ch.source.device].append(eq.id)
            names[eq.id] = eq.name or eq.id
    known = {device.id for device in site.devices}
    listing = f"devices: {', '.join(sorted(known)) or 'none'}"
    issues.extend(unknown_names("devices", settings.devices, known, "device", listing))
    rules: list[Rule] = []
    for dev in site.devices:
        if not dev.enabled:
            continue
        spec = _merge_comm(settings.comm_loss, settings.devices.get(dev.id))
        if spec.get("enabled") is False:
            continue
        equipment = tuple(feeds.get(dev.id, ()))
        rules.append(
            event_rule(
                settings,
                f"{dev.id}/comm_loss",
                "comm_loss",
                ConditionKind.COMM_LOSS,
                dev.id,
                spec,
                "comm loss",
                ("device_down",),
                ("device_up",),
                equipment=equipment,
                equipment_name=", ".join(names[eq_id] for eq_id in equipment) or None,
                devices=(dev.id,),
            )
        )
    return rules


def compile_system(site: AlarmSite, settings: AlarmsConfig, issues: list[Issue]) -> list[Rule]:
    """The checks of coldwatch itself, and one per notifier."""
    names = (*SYSTEM_ALARMS, *PER_ITEM_SYSTEM_ALARMS)
    listing = f"system alarms: {', '.join(names)}"
    issues.extend(unknown_names("system", settings.system, names, "system alarm", listing))
    for name, own in settings.system.items():
        known = SYSTEM_ALARMS.get(name)
        takes_it = known is not None and known.clean_gap_threshold is not None
        if own.clean_gap_threshold is not None and name in names and not takes_it:
            issues.append(
                (
                    ("alarms", "system", name, "clean_gap_threshold"),
                    "clean_gap_threshold applies to monitoring_gap only",
                )
            )
    rules: list[Rule] = []
    for name, alarm in SYSTEM_ALARMS.items():
        defaults = {
            "priority": alarm.priority,
            "on_delay": alarm.on_delay,
            "latching": name == "engine_fault",
            "contingency": alarm.contingency,
            "clean_gap_threshold": alarm.clean_gap_threshold,
        }
        spec = system_spec(settings, name, defaults)
        if spec is None:
            continue
        rules.append(
            event_rule(
                settings,
                f"coldwatch/{name}",
                name,
                ConditionKind.SYSTEM,
                "coldwatch",
                spec,
                alarm.text,
                alarm.set_kinds,
                alarm.clear_kinds,
                pulse=alarm.pulse,
                clean_gap_threshold=spec.get("clean_gap_threshold")
                if alarm.clean_gap_threshold is not None
                else None,
            )
        )
    rules.extend(compile_notifier_checks(site, settings))
    return rules


def system_spec(
    settings: AlarmsConfig, name: str, defaults: dict[str, Any]
) -> dict[str, Any] | None:
    """A system alarm's settings: its defaults under ``alarms.system.<name>``; None when
    disabled there."""
    own = settings.system.get(name)
    spec = {**defaults, **(own.model_dump(exclude_none=True) if own else {})}
    return None if spec.get("enabled") is False else spec


def compile_notifier_checks(site: AlarmSite, settings: AlarmsConfig) -> list[Rule]:
    """``coldwatch/notifier_failing/<name>`` for every configured notifier."""
    alarm = NOTIFIER_FAILING
    spec = system_spec(
        settings,
        "notifier_failing",
        {"priority": alarm.priority, "on_delay": 0.0, "contingency": alarm.contingency},
    )
    if spec is None:
        return []
    return [
        event_rule(
            settings,
            notifier_alarm_key(name),
            "notifier_failing",
            ConditionKind.SYSTEM,
            notifier_source(name),
            spec,
            f"notifier '{name}' {alarm.text}",
            alarm.set_kinds,
            alarm.clear_kinds,
        )
        for name in site.notifiers
    ]


def compile_calibration(
    site: AlarmSite, settings: AlarmsConfig, taken: set[str], issues: list[Issue]
) -> list[Rule]:
    """``<channel>/calibration_due`` for every channel whose sensor has a due date, unless a
    rule compiled before (``taken``: their keys) has that key."""
    spec = system_spec(settings, "calibration_due", dict(CALIBRATION_DUE))
    if spec is None:
        return []
    rules: list[Rule] = []
    for channel_id, (eq, channel) in site.channels().items():
        due = channel.sensor.calibration_due
        if due is None:
            continue
        key = f"{channel_id}/calibration_due"
        if key in taken:
            issues.append(
                (
                    ("alarms", "equipment", eq.id, "rules", "calibration_due"),
                    "rule id 'calibration_due' is taken by the calibration alarm of "
                    f"channel '{channel.id}': choose another id",
                )
            )
            continue
        rules.append(
            Rule(
                key=key,
                rule_id="calibration_due",
                kind=ConditionKind.CALIBRATION,
                name=f"calibration due {due.isoformat()}",
                priority=Priority(spec["priority"]),
                contingency=spec.get("contingency") or "",
                channels=(channel_id,),
                **channel_fields(channel_id, eq, channel),
                latching=bool(spec.get("latching")),
                realarm_after=realarm_after(spec.get("realarm_after"), settings),
                realarm_max=settings.realarm_max,
            )
        )
    return rules


def event_rule(
    settings: AlarmsConfig,
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
    equipment_name: str | None = None,
    devices: tuple[str, ...] = (),
    pulse: bool = False,
    clean_gap_threshold: float | None = None,
) -> Rule:
    """A rule raised and cleared by events (``set_kinds`` .. ``clear_kinds``)."""
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
        equipment_name=equipment_name,
        equipment_ids=equipment,
        latching=bool(spec.get("latching")),
        realarm_after=realarm_after(spec.get("realarm_after"), settings),
        realarm_max=settings.realarm_max,
        spec=RuleSpec(on_delay=spec.get("on_delay") or 0.0),
        set_kinds=set_kinds,
        clear_kinds=clear_kinds,
        pulse=pulse,
        clean_gap_threshold=clean_gap_threshold,
    )


def _merge_comm(*layers: CommLossSpec | None) -> dict[str, Any]:
    merged: dict[str, Any] = dict(COMM_LOSS_DEFAULTS)
    for layer in layers:
        if layer is not None:
            merged.update(layer.model_dump(exclude_none=True))
    return merged
