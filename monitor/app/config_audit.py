"""Configuration loads on the audit trail: each load (start, reload) with a diff against the
configuration in force before it, who and why.

The previous configuration is the one the last ``config.loaded`` entry put in force (its
effective version is in the store, secrets redacted, :mod:`monitor.app.effective`), so a
change is found however it was made. A change needs a recorded reason: ``coldwatch reload
--reason`` (the person from the control socket's peer credentials), or the start that
``coldwatch restart --reason`` brings (whoever asked for the restart answers for what it starts
with). A change without one (the file edited and the service restarted with ``systemctl``, a
start some time after ``coldwatch stop``, a SIGHUP, a crash) is recorded as unattributed, and
the daemon raises the ``coldwatch/config_unattributed`` system alarm for someone to acknowledge
with a comment.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final, Literal

from monitor.core.model import Event
from monitor.core.secrets import REDACTED, is_secret_key, redact
from monitor.runtime.stop_record import StopRecord
from monitor.store.base import AuditEntry, AuditQuery, Store

ACTION: Final = "config.loaded"
#: At most this many changes are listed in one entry (the count says how many there were).
MAX_CHANGES: Final = 200
Trigger = Literal["start", "reload", "signal"]
#: A start this soon after ``coldwatch restart --reason`` is that restart's (a supervisor
#: starts it again within seconds); a later one is not (the restart did not come back).
RESTART_CREDIT: Final = timedelta(minutes=5)


@dataclass(frozen=True, slots=True)
class Attribution:
    """Who answers for a load and why (``reason`` None: nobody said)."""

    method: str
    person: str | None = None
    os_user: str | None = None
    reason: str | None = None
    source: str | None = None
    """Where the reason comes from, e.g. ``restart asked by alice: new probe``."""


@dataclass(frozen=True, slots=True)
class Previous:
    version: int | None
    sha256: str
    effective: dict[str, Any] | None
    written_sha256: str | None = None
    """What the files said then (see ``LoadedConfig.written_sha256``); None if not kept."""


def config_diff(old: Any, new: Any, path: str = "") -> list[dict[str, Any]]:
    """Every difference between two effective configurations: ``{"path": dotted path, "old",
    "new"}`` (a missing side is None). Lists of objects with unique ``id`` are matched by id
    (``devices.tsx.interval``), other lists by index; a section added or removed shows each
    of its values."""
    if isinstance(old, Mapping) and new is None:
        new = {}  # a section removed: each of its values, by path
    if old is None and isinstance(new, Mapping):
        old = {}  # a section added: each of its values, by path
    if isinstance(old, Mapping) and isinstance(new, Mapping):
        out: list[dict[str, Any]] = []
        for key in sorted(set(old) | set(new), key=str):
            out += config_diff(old.get(key), new.get(key), f"{path}.{key}" if path else str(key))
        return out
    if isinstance(old, list) and isinstance(new, list):
        keyed_old, keyed_new = _by_id(old), _by_id(new)
        if keyed_old is not None and keyed_new is not None:
            return config_diff(keyed_old, keyed_new, path)
        width = max(len(old), len(new))
        padded_old = old + [None] * (width - len(old))
        padded_new = new + [None] * (width - len(new))
        return [
            change
            for i, (a, b) in enumerate(zip(padded_old, padded_new, strict=True))
            for change in config_diff(a, b, f"{path}.{i}" if path else str(i))
        ]
    if old == new:
        return []
    return [{"path": path, "old": old, "new": new}]


def _by_id(items: list[Any]) -> dict[str, Any] | None:
    if not items or not all(isinstance(i, Mapping) and isinstance(i.get("id"), str) for i in items):
        return None
    keyed = {str(i["id"]): i for i in items}
    return keyed if len(keyed) == len(items) else None


def previous_load(store: Store) -> Previous | None:
    """The configuration the last recorded load put in force; None before the first."""
    last = store.audit_entries(AuditQuery(action=ACTION, limit=1, newest_first=True))
    if not last or not isinstance(last[0].new, dict):
        return None
    sha = str(last[0].new.get("sha256"))
    written = last[0].new.get("written_sha256")
    written_sha = written if isinstance(written, str) and written else None
    for version in store.config_versions():
        if version.sha256 == sha:
            return Previous(version.id, sha, version.effective, written_sha)
    return Previous(None, sha, None, written_sha)


def start_attribution(last_run: Event | None, now: datetime, method: str = "system") -> Attribution:
    """Who answers for what a start loads: the person of a ``coldwatch restart --reason`` of
    the last run, with its reason, when this start follows it within
    :data:`RESTART_CREDIT`; nobody otherwise. A ``stop --reason`` answers for the stop, not for
    whatever the files say when someone starts coldwatch again later (they may have been edited
    by someone else meanwhile): such a start with changed files is unattributed."""
    stop = None
    if last_run is not None and last_run.kind == "daemon_stopped":
        stop = StopRecord.from_json(last_run.data.get("stop"))
    if stop is None or stop.command != "restart" or not stop.reason:
        return Attribution(method)
    if not timedelta(0) <= now - stop.at <= RESTART_CREDIT:
        return Attribution(method)
    return Attribution("cli", stop.person, stop.os_user, stop.reason, stop.describe())


def load_entry(
    *,
    at: datetime,
    trigger: Trigger,
    previous: Previous | None,
    sha256: str,
    version: int,
    effective: Mapping[str, Any],
    sources: list[str],
    who: Attribution,
    clock_synchronised: bool | None,
    written_sha256: str = "",
) -> AuditEntry:
    """The ``config.loaded`` entry of one load. Unattributed (``detail.attributed`` false):
    the configuration changed and nobody recorded why. A change with the files as they were
    (the same ``written_sha256``) comes from the software: this coldwatch's defaults differ
    from the last load's (an upgrade); it is recorded as such, not as unattributed."""
    changed = previous is not None and previous.sha256 != sha256
    by_software = (
        changed
        and previous is not None
        and bool(written_sha256)
        and previous.written_sha256 == written_sha256
    )
    changes: list[dict[str, Any]] = []
    if changed and previous is not None:
        if previous.effective is None:
            changes = [{"path": "", "old": "(not kept)", "new": "(see version)"}]
        else:
            changes = config_diff(previous.effective, dict(effective))
    detail: dict[str, Any] = {
        "trigger": trigger,
        "changed": changed,
        "changes": [_redacted(change) for change in changes[:MAX_CHANGES]],
        "changes_total": len(changes),
        "sources": sources,
        "attributed": not changed or by_software or who.reason is not None,
    }
    if by_software:
        detail["software_change"] = (
            "the configuration files are as they were: this coldwatch's defaults differ from "
            "those of the last load (a software update)"
        )
    if previous is None:
        detail["first_recorded_load"] = True
    if who.source is not None:
        detail["reason_from"] = who.source
    if changed and not by_software and who.reason is None:
        detail["unattributed"] = (
            "the configuration changed without a recorded reason (use coldwatch reload "
            "--reason, or coldwatch restart --reason)"
        )
    return AuditEntry(
        at=at,
        action=ACTION,
        method=who.method,
        person=who.person,
        os_user=who.os_user,
        subject=f"config version {version}",
        reason=who.reason,
        old=None if previous is None else {"version": previous.version, "sha256": previous.sha256},
        new={"version": version, "sha256": sha256, "written_sha256": written_sha256},
        detail=detail,
        clock_synchronised=clock_synchronised,
    )


def _redacted(change: dict[str, Any]) -> dict[str, Any]:
    """A change with its values redacted when its key names a secret (the effective
    configuration has them redacted already: this is the second net)."""
    key = str(change["path"]).rsplit(".", 1)[-1]
    if not is_secret_key(key):
        return {**change, "old": redact(change["old"]), "new": redact(change["new"])}
    hidden = {k: None if change[k] is None else REDACTED for k in ("old", "new")}
    return {**change, **hidden}


def unattributed(entry: AuditEntry) -> bool:
    return bool(entry.detail and entry.detail.get("attributed") is False)
