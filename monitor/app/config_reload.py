"""Taking the configuration file anew while running (``coldwatch reload --reason``, SIGHUP),
and putting every load on the audit trail.

A running daemon takes changes to the ``alarms:`` section (rules, limits, delays, templates,
system alarms): the alarm engine keeps what its alarms know (:mod:`alarms.reload`). Any other
change (devices, channels, people, paging, the store...) needs a restart, so the reload is
refused, nothing changes, and the refusal names the paths and is audited
(``config.reload_refused``). Each load, at start or by reload, is a ``config.loaded`` entry
with its diff, who and why (:mod:`monitor.app.config_audit`); a change without a reason raises
``coldwatch/config_unattributed``.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Final, Protocol

from alarms.engine import AlarmEngine
from monitor.app.config import ConfigError, LoadedConfig, load
from monitor.app.config_audit import (
    Attribution,
    Previous,
    Trigger,
    config_diff,
    load_entry,
    previous_load,
    unattributed,
)
from monitor.core.clock import Clock
from monitor.core.model import Event, EventKind
from monitor.runtime.health import HealthMonitor
from monitor.runtime.pipeline import Pipeline
from monitor.store.audit_journal import AuditJournal
from monitor.store.base import AuditEntry, Store, StoreError

log = logging.getLogger(__name__)

#: The section a running daemon takes anew; anything else needs a restart.
RELOADABLE: Final = "alarms"
#: Paths named in a refusal, at most.
MAX_NAMED: Final = 10


class Daemon(Protocol):
    """What a reload needs of the daemon (:class:`monitor.app.daemon.Daemon`)."""

    loaded: LoadedConfig
    store: Store
    clock: Clock
    audit: AuditJournal
    pipeline: Pipeline
    health: HealthMonitor
    alarms: AlarmEngine | None


def needs_restart(changes: list[dict[str, Any]]) -> list[str]:
    """The changed paths a reload cannot take (outside ``alarms``)."""
    return [
        str(c["path"])
        for c in changes
        if c["path"] != RELOADABLE and not str(c["path"]).startswith(RELOADABLE + ".")
    ]


def read_previous(daemon: Daemon) -> Previous | None:
    try:
        return previous_load(daemon.store)
    except StoreError as exc:  # the load is still audited, without its diff
        log.error("cannot read the last configuration load from the store: %s", exc)
        return None


def audit_load(
    daemon: Daemon,
    trigger: Trigger,
    who: Attribution,
    version: int,
    previous: Previous | None,
) -> AuditEntry:
    """Append the ``config.loaded`` entry of ``daemon.loaded``; raise the unattributed
    change alarm when it is one."""
    loaded = daemon.loaded
    now = daemon.clock.now()
    entry = load_entry(
        at=now,
        trigger=trigger,
        previous=previous,
        sha256=loaded.sha256,
        version=version,
        effective=loaded.effective,
        sources=loaded.sources,
        who=who,
        clock_synchronised=daemon.health.clock_synchronised(),
        written_sha256=loaded.written_sha256,
    )
    daemon.audit.write([entry])
    if unattributed(entry):
        detail = entry.detail or {}
        log.warning(
            "the configuration changed without a recorded reason (%d changes, %s)",
            detail.get("changes_total", 0),
            trigger,
        )
        daemon.pipeline.publish_event(
            Event(
                now,
                EventKind.CONFIG_UNATTRIBUTED,
                "coldwatch",
                f"configuration {loaded.sha256[:12]} (version {version}) loaded at {trigger} "
                f"with {detail.get('changes_total', 0)} changes and no recorded reason",
                {"config_version": version, "sha256": loaded.sha256, "trigger": trigger},
                None,
            )
        )
    return entry


def reload_config(
    daemon: Daemon, config_path: Path | None, trigger: Trigger, who: Attribution
) -> dict[str, Any] | str:
    """Read the configuration file anew and take it: what was taken (JSON-ready), or why
    not (then nothing changed)."""
    if config_path is None:
        return "this coldwatch was not started from a configuration file: nothing to reload"
    try:
        loaded = load(config_path, secrets=True)
    except ConfigError as exc:
        issues = "; ".join(str(issue) for issue in exc.issues[:MAX_NAMED])
        return _refused(daemon, who, f"the configuration has errors, nothing changed: {issues}")
    changes = config_diff(daemon.loaded.effective, loaded.effective)
    outside = needs_restart(changes)
    if outside or (changes and daemon.alarms is None):
        named = ", ".join((outside or [RELOADABLE])[:MAX_NAMED])
        more = f" and {len(outside) - MAX_NAMED} more" if len(outside) > MAX_NAMED else ""
        return _refused(
            daemon,
            who,
            f"these changes need a restart (coldwatch restart --reason TEXT), nothing changed: "
            f"{named}{more}",
        )
    previous = read_previous(daemon)
    try:
        version = daemon.store.record_config(
            loaded.effective_json, loaded.sha256, loaded.sources, daemon.clock.now(), who.person
        )
        if changes and daemon.alarms is not None:
            daemon.alarms.reload(
                loaded.config,
                who.person or who.os_user or "coldwatch",
                via=who.method,
                config_sha=loaded.sha256,
            )
    except (StoreError, ValueError) as exc:
        return _refused(daemon, who, f"the new configuration was not taken: {exc}")
    daemon.loaded = loaded
    entry = audit_load(daemon, trigger, who, version, previous)
    daemon.pipeline.publish_event(
        Event(
            daemon.clock.now(),
            EventKind.CONFIG_LOADED,
            "daemon",
            f"configuration {loaded.sha256[:12]} in force (version {version}, {trigger})",
            {"config_version": version, "sha256": loaded.sha256, "sources": loaded.sources},
            who.person,
        )
    )
    log.warning(
        "configuration reloaded (%s): version %d, %d changes%s",
        trigger,
        version,
        len(changes),
        f", by {who.person}: {who.reason}" if who.person else "",
    )
    return {
        "version": version,
        "sha256": loaded.sha256,
        "changes": len(changes),
        "paths": [str(c["path"]) for c in changes[:MAX_NAMED]],
        "unattributed": unattributed(entry),
    }


def _refused(daemon: Daemon, who: Attribution, why: str) -> str:
    log.warning("configuration reload refused: %s", why)
    daemon.audit.write(
        [
            AuditEntry(
                at=daemon.clock.now(),
                action="config.reload_refused",
                method=who.method,
                person=who.person,
                os_user=who.os_user,
                reason=who.reason,
                detail={"refused": why},
                clock_synchronised=daemon.health.clock_synchronised(),
            )
        ]
    )
    return why
