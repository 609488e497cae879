"""Configuration loads on the audit trail (monitor/app/config_audit.py): the structured diff,
who answers for a load at start, an unattributed change, and no secret in an entry (a changed
secret shows only where it comes from, or the redaction)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from monitor.app.config import load
from monitor.app.config_audit import (
    Attribution,
    Previous,
    config_diff,
    load_entry,
    start_attribution,
    unattributed,
)
from monitor.core.model import Event, EventKind
from monitor.core.secrets import REDACTED
from monitor.runtime.stop_record import StopRecord
from monitor.store.base import AuditQuery
from monitor.store.sqlite import SQLiteStore
from tests.support.fakes import write_config

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
SECRETS = ("OLDSLACKSECRET", "NEWSLACKSECRET", "OLDMQTTSECRET", "NEWMQTTSECRET", "ENVURL2SECRET")


def test_the_diff_names_each_change_by_dotted_path() -> None:
    old = {
        "devices": [{"id": "tsx", "interval": 10.0}, {"id": "ups", "interval": 5.0}],
        "alarms": {"flood": {"start_above": 10}, "gone": 1},
        "sentinels": [1, 2],
    }
    new = {
        "devices": [{"id": "ups", "interval": 5.0}, {"id": "tsx", "interval": 2.0}],
        "alarms": {"flood": {"start_above": 12}, "added": {"x": True}},
        "sentinels": [1],
    }
    assert config_diff(old, new) == [
        {"path": "alarms.added.x", "old": None, "new": True},
        {"path": "alarms.flood.start_above", "old": 10, "new": 12},
        {"path": "alarms.gone", "old": 1, "new": None},
        {"path": "devices.tsx.interval", "old": 10.0, "new": 2.0},  # by id, not position
        {"path": "sentinels.1", "old": 2, "new": None},
    ]
    assert config_diff(old, old) == []


def entry_for(previous: Previous | None, sha: str, who: Attribution, written: str = "") -> Any:
    return load_entry(
        at=T0,
        trigger="start",
        previous=previous,
        sha256=sha,
        version=2,
        effective={"alarms": {"x": 2}},
        sources=["c.yaml"],
        who=who,
        clock_synchronised=True,
        written_sha256=written,
    )


def test_a_change_without_a_reason_is_unattributed() -> None:
    previous = Previous(1, "a" * 64, {"alarms": {"x": 1}})
    nobody = entry_for(previous, "b" * 64, Attribution("system"))
    assert unattributed(nobody)
    assert nobody.detail["changes"] == [{"path": "alarms.x", "old": 1, "new": 2}]
    assert "without a recorded reason" in nobody.detail["unattributed"]
    assert nobody.old == {"version": 1, "sha256": "a" * 64}
    assert nobody.new == {"version": 2, "sha256": "b" * 64, "written_sha256": ""}
    alice = entry_for(previous, "b" * 64, Attribution("cli", "alice", "alice", "new limit"))
    assert not unattributed(alice) and alice.reason == "new limit" and alice.person == "alice"
    same = entry_for(previous, "a" * 64, Attribution("system"))
    assert not unattributed(same) and same.detail["changes"] == []  # no change, none to explain
    first = entry_for(None, "b" * 64, Attribution("system"))
    assert not unattributed(first) and first.detail["first_recorded_load"] is True


def test_a_change_of_defaults_with_the_files_unchanged_is_the_softwares() -> None:
    """An upgrade that adds a default changes the effective configuration, not the files:
    recorded as a software change, with its diff, and no unattributed-change alarm."""
    previous = Previous(1, "a" * 64, {"alarms": {"x": 1}}, written_sha256="f" * 64)
    upgrade = entry_for(previous, "b" * 64, Attribution("system"), written="f" * 64)
    assert not unattributed(upgrade)
    assert "software update" in upgrade.detail["software_change"]
    assert upgrade.detail["changes"] == [{"path": "alarms.x", "old": 1, "new": 2}]
    assert upgrade.new["written_sha256"] == "f" * 64
    edited = entry_for(previous, "b" * 64, Attribution("system"), written="e" * 64)
    assert unattributed(edited) and "software_change" not in edited.detail
    unknown = Previous(1, "a" * 64, {"alarms": {"x": 1}})  # an entry from before the field
    assert unattributed(entry_for(unknown, "b" * 64, Attribution("system"), written="f" * 64))


def test_what_the_files_say_is_hashed_apart_from_comments_and_defaults(tmp_path: Path) -> None:
    example = Path(__file__).resolve().parents[3] / "config" / "example.yaml"
    text = example.read_text()
    commented = tmp_path / "commented.yaml"
    commented.write_text("# a comment changes nothing written\n" + text)
    renamed = tmp_path / "renamed.yaml"
    renamed.write_text(text.replace("interval: 10s", "interval: 11s", 1))
    first = load(example, secrets=False).written_sha256
    assert len(first) == 64
    assert load(commented, secrets=False).written_sha256 == first
    assert load(renamed, secrets=False).written_sha256 != first


def stopped(record: StopRecord | None) -> Event:
    data = {"stop": record.to_json()} if record is not None else {}
    return Event(T0, EventKind.DAEMON_STOPPED, "daemon", "stopped", data)


def test_a_start_is_attributed_to_the_restart_that_brought_it_only() -> None:
    planned = StopRecord("restart", T0, person="alice", os_user="al", reason="new probe")
    soon = T0 + timedelta(seconds=6)  # a supervisor starts it again within seconds
    who = start_attribution(stopped(planned), soon)
    assert (who.method, who.person, who.os_user, who.reason) == ("cli", "alice", "al", "new probe")
    assert who.source == "restart asked by alice (OS user al): new probe"
    # the restart did not come back: a start much later answers to nobody
    assert start_attribution(stopped(planned), T0 + timedelta(minutes=6)) == Attribution("system")
    assert start_attribution(stopped(planned), T0 - timedelta(seconds=1)) == Attribution("system")
    # a stop answers for the stop; files edited before a later start may be anyone's
    halted = StopRecord("stop", T0, person="alice", os_user="al", reason="probe swap")
    assert start_attribution(stopped(halted), soon) == Attribution("system")
    signalled = StopRecord("signal", T0, signal="SIGTERM")
    for last_run in (stopped(signalled), stopped(None), None):
        assert start_attribution(last_run, soon) == Attribution("system")
    crashed = Event(T0, EventKind.DAEMON_STARTED, "daemon", "started")  # never stopped
    assert start_attribution(crashed, soon) == Attribution("system")


def site(tmp_path: Path, name: str, slack: str, mqtt: str, ticket_env: str) -> Path:
    folder = tmp_path / name
    folder.mkdir()
    data: dict[str, Any] = {
        "site": {"id": "s", "name": "S"},
        "store": {"path": str(tmp_path / "cw.db")},
        "devices": [
            {
                "id": "broker",
                "driver": "mqtt",
                "settings": {
                    "host": "127.0.0.1",
                    "client_id": "cw",
                    "username": "cw",
                    "password": mqtt,
                },
            }
        ],
        "notifiers": {
            "slack": {"type": "webhook", "url": f"https://hooks.slack.com/services/{slack}"},
            "ticket": {"type": "webhook", "url_env": ticket_env},
        },
    }
    return write_config(folder, data)


def test_no_secret_reaches_the_audit_trail(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TICKET_URL", "https://tickets.example.org/ENVURL1SECRET")
    monkeypatch.setenv("TICKET_URL2", "https://tickets.example.org/ENVURL2SECRET")
    before = load(site(tmp_path, "a", "OLDSLACKSECRET", "OLDMQTTSECRET", "TICKET_URL"))
    after = load(site(tmp_path, "b", "NEWSLACKSECRET", "NEWMQTTSECRET", "TICKET_URL2"))
    entry = load_entry(
        at=T0,
        trigger="reload",
        previous=Previous(1, before.sha256, before.effective),
        sha256=after.sha256,
        version=2,
        effective=after.effective,
        sources=after.sources,
        who=Attribution("cli", "alice", "alice", "rotated the webhook secrets"),
        clock_synchronised=None,
    )
    changes = {c["path"]: (c["old"], c["new"]) for c in entry.detail["changes"]}
    # where the ticket URL comes from changed: the reference shows, never the value
    assert changes["notifiers.ticket.url_env"] == ("TICKET_URL", "TICKET_URL2")
    # inline secrets are redacted in both versions: no change to show, no value either
    assert (
        "notifiers.slack.url" not in changes and "devices.broker.settings.password" not in changes
    )
    with SQLiteStore(tmp_path / "cw.db") as store:
        store.append_audit([entry])
        [stored] = store.audit_entries(AuditQuery())
    text = json.dumps([stored.old, stored.new, stored.detail])
    content = b"".join(p.read_bytes() for p in tmp_path.glob("cw.db*"))
    for secret in SECRETS:
        assert secret not in text and secret.encode() not in content


def test_a_secret_in_clear_in_an_older_version_is_redacted_in_the_diff() -> None:
    """The second net: a version kept before its secrets were redacted still shows none."""
    previous = Previous(1, "a" * 64, {"mqtt": {"password": "OLDCLEAR", "host": "a"}})
    entry = load_entry(
        at=T0,
        trigger="start",
        previous=previous,
        sha256="b" * 64,
        version=2,
        effective={"mqtt": {"password": "NEWCLEAR", "host": "b"}},
        sources=[],
        who=Attribution("system"),
        clock_synchronised=None,
    )
    assert entry.detail["changes"] == [
        {"path": "mqtt.host", "old": "a", "new": "b"},
        {"path": "mqtt.password", "old": REDACTED, "new": REDACTED},
    ]
