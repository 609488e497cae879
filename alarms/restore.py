"""Resuming after a restart (or a crash): the engine takes up where the last run left off.

Each alarm point is loaded from the newest history row of its key (its full view: state,
code, acknowledgement, re-alarm and shelve times) and its condition from the timer checkpoint;
windows that are not checkpointed are refilled from the store's readings (a rate window, the
newest good reading a stale timer counts from). Inhibit groups follow their parents' state and
their recorded holds. Then the fail-safe rules apply: a shelve or maintenance period whose record
cannot be read ends now, a suppression whose cause is gone ends now, and alarms of rules that are
no longer configured are retired on the record. What this produces is queued in the journal and
announced at the engine's first flush, once its subscribers are attached.

Everything here works on the engine's parts (:class:`~alarms.engine_parts.EngineParts`), given
as arguments; :mod:`alarms.reload` uses the same steps when the configuration changes.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from alarms.engine_parts import EngineParts
from alarms.lifecycle import Lifecycle
from alarms.model import Action, AlarmState, AlarmView, AnnouncementKind, ConditionKind
from alarms.point import AlarmPoint
from alarms.records.alarm_history import CONFIG_KEY, FLOOD_KEY, INHIBIT_PREFIX, read_state
from monitor.store.base import AlarmRecord


def resume(
    parts: EngineParts, channels: Iterable[str], config_sha: str, person: str | None
) -> dict[str, datetime]:
    """Take up where the last run left off (see the module docstring); returns the time of
    the newest stored reading of each of ``channels`` (those the alarm rules read)."""
    life = parts.life
    store = parts.store
    now = parts.clock.now()
    stored = read_state(store, now, life.settings.flood.window)
    life.codes_issued = stored.codes_issued
    newest = store.latest(list(channels))
    for point in life.points.values():
        condition = point.condition
        condition.begin(now)
        history = [newest[c] for c in point.rule.channels if c in newest]
        if point.rule.kind is ConditionKind.RATE:
            window = timedelta(seconds=point.rule.spec.window or 600.0)
            history = store.readings(point.rule.source, start=now - window)
        condition.prime(history)
    was_suppressed: set[str] = set()
    unknown: list[tuple[AlarmPoint, AlarmState, Action]] = []
    for key, point in life.points.items():
        record = stored.latest.get(key)
        timers = stored.timers.get(key, {})
        if record is None:
            point.condition.restore(False, None, timers)
            continue
        try:
            view = AlarmView.from_json(record.data["alarm"])
            activations = [datetime.fromisoformat(t) for t in record.data["activations"]]
        except (KeyError, TypeError, ValueError):
            life.record(
                point,
                Action.RESTORED,
                now,
                None,
                comment="the recorded state could not be read: starting from NORMAL",
            )
            continue
        point.load(view, activations)
        point.condition.restore(point.active, point.level, timers)
        if point.code is not None:
            life.codes[point.code] = point
        if view.state is AlarmState.SUPPRESSED:
            was_suppressed.add(key)
        for state, hold, action in (
            (AlarmState.OUT_OF_SERVICE, point.out_of_service, Action.SERVICE_EXPIRED),
            (AlarmState.SHELVED, point.shelve, Action.SHELVE_EXPIRED),
        ):
            if view.state is state and hold is None:
                unknown.append((point, state, action))
    _engine_rows(life, stored.latest, stored.announced_recently, now)
    restore_suppression(life, was_suppressed, now)
    for point, state, action in unknown:  # fail-safe: an unreadable hold ends now
        life.leave_hidden(
            point, now, action, state, comment="unknown after a restart: ended (fail-safe)"
        )
    _retire(parts, stored.latest, now)
    record_config(life, config_sha, stored.latest.get(CONFIG_KEY), person, now)
    return {channel: reading.ts for channel, reading in newest.items()}


def _engine_rows(
    life: Lifecycle,
    latest: dict[str, AlarmRecord],
    announced: list[tuple[datetime, str]],
    now: datetime,
) -> None:
    for ts, key in announced:
        life.flood.remember(ts, key)
    flood = latest.get(FLOOD_KEY)
    if flood is not None and flood.data.get("active"):
        life.flood.active = True
        life.flood.since = flood.at
    for key, point in life.points.items():
        if point.active and key in life.inhibitor.by_parent:
            life.inhibitor.parent_changed(key, True, point.activated_at or now)
    for group in life.inhibitor.groups.values():
        record = latest.get(INHIBIT_PREFIX + group.id)
        if record is None:
            continue
        group.first_out = record.data.get("first_out")
        hold = record.data.get("hold_until")
        if not group.active and isinstance(hold, str):
            group.hold_until = datetime.fromisoformat(hold)


def restore_suppression(life: Lifecycle, was_suppressed: set[str], now: datetime) -> None:
    for key, point in life.points.items():
        for group in life.inhibitor.engaged_for(key):
            if key in was_suppressed:
                point.suppressed_by[group.id] = group.parent()
            else:
                life.suppress(point, group, now)
        if key in was_suppressed and not point.suppressed_by:
            life.leave_hidden(
                point,
                now,
                Action.UNSUPPRESSED,
                AlarmState.SUPPRESSED,
                comment="its suppression ended while coldwatch was not running",
            )


def _retire(parts: EngineParts, latest: dict[str, AlarmRecord], now: datetime) -> None:
    """Alarms of rules no longer configured: closed on the record, escalation stopped."""
    for key, record in latest.items():
        if key in parts.life.points or "alarm" not in record.data:
            continue
        if record.state == AlarmState.NORMAL:
            continue
        try:
            old = AlarmView.from_json(record.data["alarm"])
        except (KeyError, TypeError, ValueError):
            continue
        retire_view(parts, old, record.state, record.code, now, None, None)


def retire_view(
    parts: EngineParts,
    old: AlarmView,
    previous: str,
    code: str | None,
    at: datetime,
    person: str | None,
    via: str | None,
) -> None:
    closed = AlarmView.from_json(
        {**old.to_json(), "state": "NORMAL", "base_state": "NORMAL", "active": False}
    )
    parts.journal.add(
        AlarmRecord(
            recorded_at=parts.clock.now(),
            at=at,
            key=old.key,
            action=Action.RETIRED.value,
            state=AlarmState.NORMAL.value,
            code=code,
            previous=previous,
            announce=AnnouncementKind.RETIRED.value,
            person=person,
            via=via,
            comment="its rule is no longer configured",
            data={
                "alarm": closed.to_json(),
                "activations": [],
                "codes_issued": parts.life.codes_issued,
                "flood": parts.life.flood.active,
            },
        )
    )


def record_config(
    life: Lifecycle,
    config_sha: str,
    last: AlarmRecord | None,
    person: str | None,
    now: datetime,
    via: str | None = None,
) -> None:
    if last is not None and last.data.get("sha256") == config_sha:
        return
    keys = sorted(life.points)
    before = set(last.data.get("keys", ())) if last is not None else set()
    life.record_engine(
        CONFIG_KEY,
        Action.CONFIG_LOADED,
        now,
        "NORMAL",
        person=person,
        via=via,
        comment=f"alarm configuration {config_sha[:12]}: {len(keys)} alarms",
        detail={
            "sha256": config_sha,
            "keys": keys,
            "added": sorted(set(keys) - before) if last is not None else [],
            "removed": sorted(before - set(keys)),
        },
    )
