"""The audit trail of a real daemon process (a Modbus freezer on a real pymodbus server, the
control socket, the store file), driven by the ``coldwatch`` command line:

- ``coldwatch reload --reason`` with a change to the alarms: section: taken, and audited with
  the diff, the person (from the socket's peer credentials), the OS user and the reason; a
  change to a device: refused (exit 1, the path named), nothing changed, the refusal audited;
- that device change, found at the next start after a bare SIGTERM: an unattributed
  ``config.loaded`` entry and the ``coldwatch/config_unattributed`` alarm, acknowledged with
  ``coldwatch alarms ack`` (audited as ``alarm.acknowledged`` via cli); the SIGTERM and
  ``coldwatch stop --reason`` are audited too;
- SIGHUP reloads (it no longer ends the daemon): a change so taken is unattributed too;
- ``coldwatch audit`` filters and CSV on that store; ``coldwatch verify`` intact, then a row
  edited around its trigger: verify fails naming the table and the row.
"""

from __future__ import annotations

import csv
import io
import json
import os
import signal
import sqlite3
from pathlib import Path
from typing import Any

import pytest
import yaml

from monitor.app.daemon import service_user
from tests.monitor.app.test_planned_stop import (
    CABINET,
    cli,
    exited,
    ready,
    rows,
    site,  # noqa: F401  (the fixture)
    start,
    until,
    write_config,
)
from tests.support.modbus_server import Unit, at, encode, modbus_server

UNATTRIBUTED = "coldwatch/config_unattributed"


def audit(db: Path) -> list[dict[str, Any]]:
    found = rows(db, "SELECT * FROM audit_log ORDER BY seq")
    for row in found:
        for name in ("old_value", "new_value", "detail"):
            row[name] = json.loads(row[name]) if row[name] is not None else None
    return found


def edit(config: Path, change: Any) -> None:
    data = yaml.safe_load(config.read_text())
    change(data)
    config.write_text(yaml.safe_dump(data, sort_keys=False))


def alarm_code(db: Path, key: str) -> str | None:
    found = rows(db, "SELECT code FROM alarm_history WHERE key = ? AND code IS NOT NULL", key)
    return str(found[0]["code"]) if found else None


@pytest.mark.timeout(240)
async def test_the_audit_trail_of_a_running_daemon(site: Path, port: int) -> None:  # noqa: F811
    config = write_config(site, port)
    db = site / "cw.db"
    me = service_user()
    try:
        async with modbus_server(port, Unit(holding=at(CABINET, encode(-800, "int32")))):
            first = start(config)
            await ready(config, first)
            [loaded] = audit(db)
            assert (loaded["action"], loaded["method"], loaded["person"]) == (
                "config.loaded",
                "system",
                None,
            )
            assert loaded["detail"]["first_recorded_load"] is True
            assert loaded["detail"]["attributed"] is True  # nothing to compare with: no change

            edit(config, lambda d: d["alarms"]["system"].update(clock_step={"priority": "high"}))
            rc, out, err = await cli(config, "reload", "--reason", "clock steps page now")
            assert rc == 0, out + err
            assert "1 change: alarms.system.clock_step.priority" in out
            assert "recorded as alice: clock steps page now" in out
            reloaded = audit(db)[-1]
            assert reloaded["action"] == "config.loaded"
            assert (reloaded["person"], reloaded["os_user"], reloaded["method"]) == (
                "alice",
                me,
                "cli",
            )
            assert reloaded["reason"] == "clock steps page now"
            assert reloaded["detail"]["changes"] == [
                {"path": "alarms.system.clock_step.priority", "old": None, "new": "high"}
            ]
            assert reloaded["detail"]["trigger"] == "reload"
            assert reloaded["old_value"]["sha256"] == loaded["new_value"]["sha256"]
            assert reloaded["clock_sync"] in (0, 1, None)

            edit(config, lambda d: d["devices"][0].update(interval="2s"))
            rc, out, err = await cli(config, "reload", "--reason", "poll faster")
            assert rc == 1
            assert "need a restart" in err and "devices.tsx.interval" in err
            refused = audit(db)[-1]
            assert (refused["action"], refused["person"], refused["reason"]) == (
                "config.reload_refused",
                "alice",
                "poll faster",
            )

            first.send_signal(signal.SIGTERM)  # and restarted by hand: nobody said why
            assert await exited(first) == 0
            second = start(config)
            await ready(config, second)
            code = await until("the unattributed alarm", lambda: alarm_code(db, UNATTRIBUTED))
            entries = audit(db)
            assert [e["action"] for e in entries[-2:]] == ["daemon.signalled", "config.loaded"]
            signalled, unattributed = entries[-2:]
            assert signalled["detail"]["stop"]["signal"] == "SIGTERM"
            assert unattributed["detail"]["attributed"] is False
            assert unattributed["person"] is None and unattributed["reason"] is None
            assert unattributed["detail"]["changes"] == [
                {"path": "devices.tsx.interval", "old": 1.0, "new": 2.0}
            ]

            rc, out, err = await cli(
                config, "alarms", "ack", code, "--comment", "QA: Bob changed the poll rate"
            )
            assert rc == 0, out + err
            acked = audit(db)[-1]
            assert (acked["action"], acked["person"], acked["method"], acked["subject"]) == (
                "alarm.acknowledged",
                "alice",
                "cli",
                code,
            )
            assert acked["reason"] == "QA: Bob changed the poll rate"
            assert acked["detail"]["origin"] == f"uid {os.getuid()} ({me})"  # the kernel's word
            assert acked["old_value"] == {"state": "RTN_UNACK"}
            assert acked["new_value"] == {"state": "NORMAL"}

            # SIGHUP: the same reload, without a person or a reason: unattributed
            edit(config, lambda d: d["alarms"]["system"].update(clock_step={"priority": "low"}))
            second.send_signal(signal.SIGHUP)
            hup = await until(
                "the SIGHUP reload",
                lambda: (
                    [e for e in audit(db) if (e["detail"] or {}).get("trigger") == "signal"] or None
                ),
            )
            assert hup[0]["detail"]["attributed"] is False and hup[0]["method"] == "system"
            assert hup[0]["detail"]["changes"] == [
                {"path": "alarms.system.clock_step.priority", "old": "high", "new": "low"}
            ]
            await until(
                "the second unattributed alarm",
                lambda: len(
                    rows(db, "SELECT 1 FROM alarm_history WHERE key = ? AND action = 'raised'",
                         UNATTRIBUTED)
                ) == 2 or None,
            )  # fmt: skip
            assert second.poll() is None  # SIGHUP no longer ends the daemon

            rc, out, err = await cli(config, "stop", "--reason", "end of the test")
            assert rc == 0, out + err
            assert await exited(second) == 0
    except BaseException:
        log = site / "daemon.log"
        print(log.read_text() if log.exists() else "(no daemon log)")
        raise
    stop = audit(db)[-1]
    assert (stop["action"], stop["person"], stop["os_user"], stop["reason"]) == (
        "daemon.stop",
        "alice",
        me,
        "end of the test",
    )

    # the read-only command line over that store
    rc, out, err = await cli(config, "audit", "--action", "config.", "--csv")
    assert rc == 0, err
    table = list(csv.DictReader(io.StringIO(out)))
    assert [r["action"] for r in table] == [
        "config.loaded",
        "config.loaded",
        "config.reload_refused",
        "config.loaded",
        "config.loaded",
    ]
    assert table[1]["person"] == "alice" and table[1]["reason"] == "clock steps page now"
    assert json.loads(table[3]["detail"])["attributed"] is False
    rc, out, err = await cli(config, "audit", "--person", "alice", "--action", "alarm.")
    assert rc == 0, err
    assert out.count("\n#") == 0 and out.startswith("#")
    assert f"alarm.acknowledged {code} by alice" in out
    rc, out, err = await cli(config, "audit", "--action", "config.loaded")
    assert out.count("[UNATTRIBUTED]") == 2  # the start after SIGTERM, and the SIGHUP
    assert "devices.tsx.interval: 1.0 -> 2.0" in out
    rc, out, err = await cli(config, "audit", "--since", "2999-01-01")
    assert (rc, out) == (0, "No audit entries match.\n")

    rc, out, err = await cli(config, "verify")
    assert rc == 0, out + err
    count = len(audit(db))
    assert f"audit trail (table audit_log): {count} rows, hash chain intact" in out
    with sqlite3.connect(db) as conn:  # someone with the sqlite3 shell and write access
        conn.execute("DROP TRIGGER audit_log_no_update")
        conn.execute("UPDATE audit_log SET reason = 'routine' WHERE action = 'alarm.acknowledged'")
    seq = next(e["seq"] for e in audit(db) if e["action"] == "alarm.acknowledged")
    rc, out, err = await cli(config, "verify")
    assert rc == 1
    assert (
        f"audit trail (table audit_log): FAILED: row {seq}: hash mismatch (the row was altered)"
        in out.splitlines()
    )
