"""Taking a new alarm configuration while running, without losing what the alarms know.

Unchanged rules keep everything, changed rules keep their alarm state (their delays restart),
removed rules are retired on the record; inhibit groups are rebuilt and suppressions follow
them, and the new configuration is recorded (``config_loaded``). The engine
(:meth:`alarms.engine.AlarmEngine.reload`) checks the configuration, commits what it has
queued, calls :func:`take_rules` with its parts, then routes its inputs to the new points.
"""

from __future__ import annotations

from alarms import restore
from alarms.engine_parts import EngineParts
from alarms.inhibit import Inhibitor
from alarms.model import AlarmState
from alarms.point import AlarmPoint
from alarms.records.alarm_history import CONFIG_KEY
from alarms.rules import RuleSet


def take_rules(
    parts: EngineParts,
    ruleset: RuleSet,
    timers_to_checkpoint: set[AlarmPoint],
    config_sha: str,
    person: str,
    via: str | None,
) -> None:
    """Replace the lifecycle's points, settings and inhibit groups by ``ruleset``'s (see the
    module docstring); ``timers_to_checkpoint`` holds the points whose timers changed since
    the last checkpoint: the replaced ones are dropped from it."""
    life = parts.life
    now = parts.clock.now()
    old = life.points
    life.points = {}
    for rule in ruleset.rules:
        kept = old.get(rule.key)
        if kept is not None and kept.rule == rule:
            life.points[rule.key] = kept
            continue
        point = AlarmPoint(rule)
        point.condition.begin(now)
        if kept is not None:
            point.load(kept.view(), list(kept.activations))
            point.condition.restore(point.active, point.level, {})
        life.points[rule.key] = point
    for key, gone in old.items():
        timers_to_checkpoint.discard(gone)
        if key not in life.points:
            parts.journal.timers[key] = None
            if gone.state is not AlarmState.NORMAL:
                restore.retire_view(
                    parts, gone.view(), gone.state.value, gone.code, now, person, via
                )
    life.codes = {p.code: p for p in life.points.values() if p.code is not None}
    life.settings = settings = ruleset.settings
    life.flood.start_above = settings.flood.start_above
    life.flood.end_below = settings.flood.end_below
    suppressed = {k for k, p in life.points.items() if p.suppressed_by}
    for point in life.points.values():
        point.suppressed_by.clear()
    life.inhibitor = Inhibitor(ruleset.inhibits)
    for key, point in life.points.items():
        if point.active and key in life.inhibitor.by_parent:
            life.inhibitor.parent_changed(key, True, point.activated_at or now)
    restore.restore_suppression(life, suppressed, now)
    last = parts.store.alarm_records(key=CONFIG_KEY, newest_first=True, limit=1)
    restore.record_config(life, config_sha, last[0] if last else None, person, now, via)
