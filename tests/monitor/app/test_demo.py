"""``coldwatch demo --for N``: a simulated facility read into the store, and out by itself."""

from __future__ import annotations

import asyncio
import io
import os
import re
import subprocess
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar
from unittest.mock import ANY

import pytest
from argon2 import PasswordHasher
from rich.console import Console

from monitor.app.cli import main
from monitor.app.config import LoadedConfig, load
from monitor.app.demo import run_demo
from monitor.app.demo_board import value_text
from monitor.app.demo_data import DEMO_PIN, PIN_NAME, foreign_entries
from monitor.core.model import Quality
from monitor.identity.records import IdentityRecords
from monitor.identity.roles import Role
from monitor.store.factory import open_store
from simulators.broker import mosquitto_binary
from simulators.loader import load_sim_config

pytestmark = pytest.mark.timeout(45)
T = TypeVar("T")


def _table(text: str, loaded: LoadedConfig) -> dict[str, str]:
    """The rows of the last table in ``text``, by channel id."""
    start = text.rindex("coldwatch demo  ")
    units = {e.id for loc in loaded.config.locations for e in loc.equipment}
    rows: dict[str, str] = {}
    unit = None
    for line in text[start:].splitlines()[1:]:
        words = line.split()
        if not words or words[0] in ("unit", "coldwatch:") or set(words[0]) == {"─"}:
            continue
        if words[0] in units:
            unit, words = words[0], words[1:]
        if unit is not None and words and f"{unit}.{words[0]}" in loaded.config.channels():
            rows[f"{unit}.{words[0]}"] = line
    return rows


def _check_rows(rows: dict[str, str], loaded: LoadedConfig, data: Path) -> None:
    """Every channel has its row, showing the value and quality the store holds last."""
    channels = loaded.config.channels()
    assert set(rows) == set(channels)
    store = open_store(loaded.config.store, data)
    try:
        latest = store.latest(list(channels))
    finally:
        store.close()
    for channel_id, (_, channel) in channels.items():
        reading = latest[channel_id]
        row = rows[channel_id]
        assert f" {value_text(reading.value, channel)} " in row, (row, reading)
        assert f" {reading.quality.value} " in row, (row, reading)


def test_demo_leaves_readings_from_every_device(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    data = tmp_path / "demo"
    data.mkdir()
    (data / "outbox.jsonl").write_text('{"text": "a page of the last run"}\n')
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "monitor.app.cli", "demo", "--for", "8", "--data-dir", str(data)],
        capture_output=True,
        text=True,
        timeout=40,
        env=env,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    out = done.stdout
    config = data / "coldwatch.yaml"
    assert f"status -c {config}" in out
    assert f"sim fault -c {data / 'sim.yaml'} --device ult-01 --fault door_open" in out
    assert "did not stop" not in done.stderr
    # how to list and acknowledge alarms, where pages go, the PIN a reply needs
    assert f"alarms list -c {config}\n" in out
    assert f'alarms ack CODE -c {config} --comment "' in out
    assert f"pages go to {data / 'outbox.jsonl'} " in out
    assert f"the demo operator's PIN is\n  {DEMO_PIN} (a demo-only PIN" in out
    # the web console's address, and an admin made for this run with a password printed once
    console = re.search(
        r"web console: http://127\.0\.0\.1:(\d+)/ \(opens on the live dashboard[^\n]*\n"
        r" +sign in as demo-admin with (\S+) ",
        out,
    )
    assert console is not None, out[:4000]
    password = console.group(2)

    assert main(["check-config", "-c", str(config)]) == 0
    loaded = load(config)
    devices = {d.id for d in loaded.config.devices}
    expected = {"ult-01", "ult-02", "dewar-01", "inc-01", "crf-01"}
    if mosquitto_binary() is not None:
        expected.add("inc-02")
    else:
        assert "mosquitto is not installed" in out
    assert devices == expected
    assert loaded.config.web is not None and loaded.config.web.port == int(console.group(1))
    records = IdentityRecords(data / "coldwatch.db")
    try:
        admin = records.user("demo-admin")
    finally:
        records.close()
    assert admin is not None and admin.role is Role.ADMIN and admin.person_id == "operator"
    assert admin.password_hash is not None and admin.can_sign  # not a one-time password
    assert PasswordHasher().verify(admin.password_hash, password)
    assert password not in config.read_text()  # printed, never written into the configuration
    # the PIN printed is the one the operator's SMS replies are checked against
    operator = next(p for p in loaded.config.people if p.id == "operator")
    assert operator.pin_file == str(data / PIN_NAME)
    assert operator.resolved_pin() == DEMO_PIN
    store = open_store(loaded.config.store, data)
    try:
        latest = store.latest(list(loaded.config.channels()))
        for device in devices:
            good = [
                r
                for cid, r in latest.items()
                if cid.startswith(f"{device}.") and r.quality is Quality.GOOD
            ]
            assert good, f"no good reading from {device}"
    finally:
        store.close()
    # not a terminal: no redrawing, one plain line (at 5 s), then the table once, at the end
    assert "\x1b[" not in out
    channels = len(loaded.config.channels())
    line = rf"^\d\d:\d\d:\d\d UTC  \d+/{channels} channels good  alarms: .+ pages sent: \d+$"
    plain = re.findall(line, out, re.M)
    assert len(plain) == 1, out[-3000:]
    assert out.count("coldwatch demo  ") == 1
    _check_rows(_table(out, loaded), loaded, data)
    # a clean data directory: the last run's page is gone; what is left the next run cleans
    assert "a page of the last run" not in (data / "outbox.jsonl").read_text()
    assert foreign_entries(data) == []
    assert data.joinpath(PIN_NAME).stat().st_mode & 0o777 == 0o600
    # the simulators in force are written beside it, and what ran is cleaned up
    assert load_sim_config(data / "sim.yaml").devices
    assert not (data / "sim.control.json").exists()
    assert not any((data / "tty").iterdir())
    capsys.readouterr()
    assert main(["verify", "-c", str(config)]) == 0
    assert "hash chain intact" in capsys.readouterr().out


async def _cli(*args: str) -> tuple[int, str]:
    """A coldwatch command as a user runs it beside the demo: another process."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "monitor.app.cli",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(proc.communicate(), 20)
    return proc.returncode or 0, out.decode()


async def _eventually(what: str, check: Callable[[], Awaitable[T | None]], within: float) -> T:
    deadline = asyncio.get_running_loop().time() + within
    while True:
        found = await check()
        if found is not None:
            return found
        assert asyncio.get_running_loop().time() < deadline, f"no {what} within {within} s"
        await asyncio.sleep(0.5)


@pytest.mark.timeout(90)
async def test_the_live_table_shows_the_daemons_values_and_alarms(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """On a terminal: the table is redrawn in place; a fault injected and an alarm listed and
    acknowledged with the commands the demo printed show on it as the engine records them."""
    data = tmp_path / "demo"
    screen = io.StringIO()
    console = Console(file=screen, force_terminal=True, width=140, record=True)
    stop = asyncio.Event()
    demo = asyncio.create_task(run_demo(data, 80, console=console, stop=stop))
    try:
        sim_state = data / "sim.control.json"

        async def started() -> bool | None:
            assert not demo.done(), demo
            return True if sim_state.exists() and "coldwatch demo  " in screen.getvalue() else None

        await _eventually("demo", started, 20)
        intro = capsys.readouterr().out
        config = data / "coldwatch.yaml"
        # every file the instructions name is there (the serial links while it runs)
        named = {Path(p) for p in re.findall(rf"({re.escape(str(data))}/[\w./-]+)", intro)}
        assert {config, data / "sim.yaml", data / "outbox.jsonl", data / "coldwatch.db"} <= named
        assert all(p.exists() for p in named), [p for p in named if not p.exists()]

        command = intro[intro.index(" sim fault -c ") + 1 :].splitlines()[0].split()
        assert command[-2:] == ["--fault", "door_open"]
        assert await _cli(*command) == (0, ANY)

        async def raised() -> str | None:
            rc, listed = await _cli("alarms", "list", "-c", str(config))
            assert rc == 0, listed
            # the warm alarm itself (a slow poll's comm loss names freezer 01 too)
            found = re.search(r"^(A\d+)\s.*freezer 01.*cabinet warm", listed, re.M)
            return found.group(1) if found else None

        code = await _eventually("alarm on ult-01", raised, 45)
        rc, acked = await _cli("alarms", "ack", code, "-c", str(config), "--comment", "door shut")
        assert rc == 0, acked
        await asyncio.sleep(2.5)  # two redraws
    finally:
        stop.set()
        await asyncio.wait_for(demo, 30)
    assert demo.result() == 0

    drawn = screen.getvalue()
    assert drawn.count("\x1b[2K") > 20  # lines erased: redrawn in place
    text = console.export_text()
    assert text.count("coldwatch demo  ") >= 5  # a frame a second, and the final table

    loaded = load(data / "coldwatch.yaml")
    rows = _table(text, loaded)
    _check_rows(rows, loaded, data)
    store = open_store(loaded.config.store, data)
    try:
        last = store.alarm_records(key="ult-01.cabinet_temp/warm", newest_first=True, limit=1)[0]
        acks = [r for r in store.alarm_records(code=code) if r.action == "acknowledged"]
    finally:
        store.close()
    assert acks and acks[0].person == "operator"
    shown = f"{last.code} {last.data['alarm']['priority'].upper()} {last.state}"
    assert shown in rows["ult-01.cabinet_temp"], (shown, rows["ult-01.cabinet_temp"])
    assert last.code == code and last.state in ("ACKED", "UNACK")


async def test_without_mosquitto_the_demo_says_so_and_leaves_mqtt_out(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import monitor.app.demo as demo

    monkeypatch.setattr(demo, "mosquitto_binary", lambda: None)
    config = load_sim_config(demo.find_sim_config())
    broker, note = await demo._broker(config, tmp_path)
    assert broker is None
    assert "mosquitto is not installed: the MQTT device inc-02 left out" in note
    assert "apt-get install mosquitto" in note
    kept = demo._without_mqtt(config)
    assert [d.id for d in kept.devices] == ["ult-01", "ult-02", "dewar-01", "inc-01", "crf-01"]
    kinds = {d.model for d in kept.devices}
    assert kinds == {"ult_freezer", "ln2_dewar", "co2_incubator", "controlled_rate_freezer"}
