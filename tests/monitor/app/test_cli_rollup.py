"""``coldwatch verify`` reports a tampered roll-up as derived-data drift, apart from the
intact chains (exit 1), and ``coldwatch rollup rebuild`` re-derives it
(monitor/app/cli_rollup.py)."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from monitor.app.cli import main
from monitor.core.model import Reading
from monitor.store.sqlite import SQLiteStore
from tests.support.paths import REPO

T0 = datetime(2026, 3, 1, tzinfo=UTC)


@pytest.fixture
def config(tmp_path: Path) -> Path:
    data = yaml.safe_load((REPO / "config" / "example.yaml").read_text())
    data["store"]["path"] = str(tmp_path / "cw.db")
    path = tmp_path / "coldwatch.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    with SQLiteStore(tmp_path / "cw.db") as store:
        store.append(
            [Reading.good("freezer-07.cabinet_temp", T0 + timedelta(seconds=s), -80.0 + s / 100)
             for s in range(0, 180, 10)]
        )  # fmt: skip
    return path


def test_verify_reports_drift_apart_and_rebuild_repairs_it(
    config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["verify", "-c", str(config)]) == 0
    out = capsys.readouterr().out
    assert "roll-up (derived data): 3 channel-minutes equal the readings" in out

    with sqlite3.connect(tmp_path / "cw.db") as conn:
        conn.execute("UPDATE rollup_minutes SET n = n + 1")
    assert main(["verify", "-c", str(config)]) == 1
    out = capsys.readouterr().out
    assert out.startswith("ok: 1 batches, 18 readings, 0 events; hash chain intact")
    assert "roll-up (derived data, not a record): DRIFT: roll-up drift in 3 minute(s)" in out
    assert "`coldwatch rollup rebuild`" in out

    assert main(["rollup", "rebuild", "-c", str(config)]) == 0
    assert "roll-up rebuilt from the readings: 3 channel-minutes" in capsys.readouterr().out
    assert main(["verify", "-c", str(config)]) == 0
