"""The site overview from a real SQLite store: units by state, active alarms by priority,
devices down, 24 h completeness; and ``coldwatch status`` and the console's /api/overview
answer the same from the same store (one function computes both)."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
import yaml

from alarms.model import AlarmState, Priority
from monitor.app.cli import main
from monitor.app.config import load
from monitor.app.overview import site_overview
from monitor.core.model import Event, EventKind, Quality, Reading
from monitor.identity.roles import Role
from monitor.store.base import AlarmRecord
from monitor.store.sqlite import SQLiteStore
from tests.support.dashboard import alarm
from tests.support.identity_web import add_user, signed_in
from tests.support.web import ThreadedConsole, web_daemon_config


def example_site(tmp_path: Path) -> Path:
    """The example site, its store at ``web.db`` (the test console's), 10 s and 30 s polls."""
    config = web_daemon_config(tmp_path, {"port": 1})
    data = yaml.safe_load(config.read_text())
    data["store"]["path"] = str(tmp_path / "web.db")
    data["devices"][0]["interval"] = "10s"
    data["devices"][1]["interval"] = "30s"
    config.write_text(yaml.safe_dump(data, sort_keys=False))
    return config


def fill(store: SQLiteStore, now: datetime) -> None:
    """freezer-07: an hour of good 10 s readings, then a critical unacknowledged alarm;
    incubator-02's device (gmp251-03) down, its last readings communication errors."""
    start = now - timedelta(hours=1)
    readings = [
        Reading.good(f"freezer-07.{ch}", start + timedelta(seconds=10 * i), v)
        for i in range(360)
        for ch, v in (("cabinet_temp", -80.0), ("tc2_temp", -79.0))
    ]
    readings += [
        Reading.bad(f"incubator-02.{ch}", now - timedelta(seconds=5), Quality.COMM_ERROR)
        for ch in ("co2", "probe_status")
    ]
    events = [Event(now - timedelta(minutes=5), EventKind.DEVICE_DOWN, "gmp251-03", "down")]
    store.append(readings, events)
    view = alarm("freezer-07", AlarmState.UNACK, Priority.CRITICAL, code="A1007")
    store.append_alarm_records(
        [
            AlarmRecord(
                recorded_at=now,
                at=now,
                key=view.key,
                action="raised",
                state=view.state.value,
                code=view.code,
                data={"alarm": view.to_json()},
            )
        ]
    )


def test_the_overview_counts(tmp_path: Path) -> None:
    config = example_site(tmp_path)
    loaded = load(config)
    now = datetime.now(UTC)
    store = SQLiteStore(tmp_path / "web.db")
    store.open()
    try:
        fill(store, now)
        overview = site_overview(loaded.config, store, now)
    finally:
        store.close()
    assert overview.units_by_state == {
        "alarm": 1,
        "fault": 1,
        "stale": 0,
        "no data": 0,
        "normal": 0,
    }
    assert overview.alarms_by_priority == {"critical": 1, "high": 0, "low": 0}
    assert overview.devices_down == ("gmp251-03",)
    freezer, incubator = overview.completeness
    # 8640 per channel a day at 10 s: its five channels (two with an hour of readings)
    assert (freezer.unit, freezer.stored) == ("freezer-07", 720)
    assert freezer.expected == 5 * 8640 and freezer.percent == pytest.approx(720 / 432)
    assert (incubator.stored, incubator.expected) == (0, 2 * 2880)


def test_coldwatch_status_and_the_overview_page_agree(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = example_site(tmp_path)
    loaded = load(config)
    with ThreadedConsole(tmp_path, site_config=loaded.config) as console:
        fill(console.store, datetime.now(UTC))
        assert main(["status", "--overview", "--format", "json", "-c", str(config)]) == 0
        from_cli = json.loads(capsys.readouterr().out)
        assert main(["status", "-c", str(config)]) == 0
        text = capsys.readouterr().out
        with httpx.Client(base_url=console.url, timeout=10) as client:
            add_user(console.identity.records, "vic", Role.VIEWER)
            signed_in(client, "vic")
            from_page = client.get("/api/overview").json()
            page = client.get("/overview")
    assert page.status_code == 200
    for answer in (from_cli, from_page):
        answer.pop("at")
    assert from_cli == from_page
    assert from_page["units_by_state"]["alarm"] == 1
    assert "units: 1 alarm, 1 fault, 0 stale, 0 no data, 0 normal" in text
    assert "devices down: gmp251-03" in text
    assert "Devices down" in page.text and "gmp251-03" in page.text


def test_completeness_counts_from_the_first_configuration_within_the_day(tmp_path: Path) -> None:
    """A site monitored for an hour: expected readings are an hour's, not a day's."""
    config = example_site(tmp_path)
    loaded = load(config)
    now = datetime.now(UTC)
    store = SQLiteStore(tmp_path / "web.db")
    store.open()
    try:
        effective = "{}"
        sha = hashlib.sha256(effective.encode()).hexdigest()
        store.record_config(effective, sha, [], now - timedelta(hours=1), "tests")
        fill(store, now)
        freezer = site_overview(loaded.config, store, now).completeness[0]
    finally:
        store.close()
    assert (freezer.stored, freezer.expected) == (720, 5 * 360)
    assert freezer.percent == pytest.approx(40.0)
