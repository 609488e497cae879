"""Every people's command on an alarm is on the audit trail, from the engine's own record:
acknowledge, reset, shelve, unshelve, out of service, return to service, each with who, the
method, the reason, the alarm and its equipment, the state before and after; what the system
does by itself (raise, clear, a shelve expiring) is not an audit entry, and a refused command
leaves none."""

from __future__ import annotations

from datetime import timedelta

import pytest

from alarms.model import AlarmCommandError
from monitor.store.base import AuditEntry, AuditQuery
from tests.support.alarm_engine import KEY, Factory, at, cfg


def audited(entries: list[AuditEntry]) -> list[tuple[object, ...]]:
    return [
        (e.action, e.person, e.method, e.reason, e.old, e.new, e.equipment, e.subject)
        for e in entries
    ]


async def test_each_command_is_audited_with_who_how_why_and_the_change(
    engine_factory: Factory,
) -> None:
    h = await engine_factory(**cfg(latching=True))
    await h.push("box.t", 11.0, 0)
    code = h.view(KEY).code
    h.engine.shelve(KEY, "ana", "probe swap", timedelta(hours=1), via="web")
    await h.to(60)
    h.engine.unshelve(KEY, "ana", "swapped", via="web")
    h.engine.acknowledge(KEY, "bob", "door closed", via="sms")
    await h.push("box.t", 5.0, 120)
    h.engine.reset(KEY, "carol", "checked the freezer", via="cli")
    h.engine.set_out_of_service("box", "dave", "defrost", timedelta(hours=2), via="voice")
    h.engine.return_to_service("box", "dave", "defrost done")  # no method said: unknown
    until = at(120 + 7200).isoformat()
    assert audited(h.store.audit_entries(AuditQuery())) == [
        ("alarm.shelved", "ana", "web", "probe swap", {"state": "UNACK"},
         {"state": "SHELVED", "until": at(3600).isoformat()}, "box", code),
        ("alarm.unshelved", "ana", "web", "swapped", {"state": "SHELVED"},
         {"state": "UNACK"}, "box", code),
        ("alarm.acknowledged", "bob", "sms", "door closed", {"state": "UNACK"},
         {"state": "ACKED"}, "box", code),
        ("alarm.reset", "carol", "cli", "checked the freezer", {"state": "LATCHED_ACKED"},
         {"state": "NORMAL"}, "box", code),
        # the equipment out of service: each of its alarms (its device's comm loss too)
        ("alarm.out_of_service", "dave", "voice", "defrost", {"state": "NORMAL"},
         {"state": "OUT_OF_SERVICE", "until": until}, "box", KEY),
        ("alarm.out_of_service", "dave", "voice", "defrost", {"state": "NORMAL"},
         {"state": "OUT_OF_SERVICE", "until": until}, "box", "dev/comm_loss"),
        ("alarm.returned_to_service", "dave", "unknown", "defrost done",
         {"state": "OUT_OF_SERVICE"}, {"state": "NORMAL"}, "box", KEY),
        ("alarm.returned_to_service", "dave", "unknown", "defrost done",
         {"state": "OUT_OF_SERVICE"}, {"state": "NORMAL"}, "box", "dev/comm_loss"),
    ]  # fmt: skip
    entries = h.store.audit_entries(AuditQuery())
    history = {r.seq: r for r in h.store.alarm_records()}
    for entry in entries:  # each names its alarm history row, of the same time
        assert entry.detail is not None
        row = history[entry.detail["alarm_history_seq"]]
        assert f"alarm.{row.action}" == entry.action and row.recorded_at == entry.at
        assert entry.detail["alarm_key"] == row.key and row.person == entry.person


async def test_what_the_system_does_is_not_audited_and_a_refusal_leaves_nothing(
    engine_factory: Factory,
) -> None:
    h = await engine_factory(**cfg())
    await h.push("box.t", 11.0, 0)
    h.engine.shelve(KEY, "ana", "probe swap", timedelta(minutes=10))
    await h.to(601)  # the shelve expires by itself
    await h.push("box.t", 5.0, 700)  # and the alarm clears
    with pytest.raises(AlarmCommandError):
        h.engine.acknowledge("A0000", "bob", "no such alarm")
    with pytest.raises(AlarmCommandError):
        h.engine.shelve(KEY, "bob", "", timedelta(minutes=10))
    actions = [r.action for r in h.store.alarm_records(key=KEY)]
    assert "shelve_expired" in actions and "cleared" in actions
    assert [e.action for e in h.store.audit_entries(AuditQuery())] == ["alarm.shelved"]
