"""The demo's data directory: emptied at each start unless kept, never of anything else."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from monitor.app.cli import main
from monitor.app.demo_data import (
    DEMO_PIN,
    DemoDirError,
    foreign_entries,
    prepare_data_dir,
    write_pin,
)
from monitor.store.lock import StoreLock, StoreLocked

ROOT = Path(__file__).resolve().parents[3]


def _last_run(data: Path) -> list[str]:
    """What a demo leaves behind, as names relative to ``data``."""
    (data / "tty").mkdir(parents=True)
    (data / "tty" / "ult-02").symlink_to("/dev/null")
    (data / "mosquitto").mkdir()
    (data / "mosquitto" / "mosquitto.conf").write_text("listener 1883\n")
    for name in (
        "coldwatch.yaml",
        "sim.yaml",
        "outbox.jsonl",
        "coldwatch.db",
        "coldwatch.db-wal",
        "coldwatch.db-shm",
        "coldwatch.db.lock",
        "coldwatch.db.fallback",
        "operator.pin",
    ):
        (data / name).write_text("from the last run\n")
    return sorted(p.name for p in data.iterdir())


def test_a_previous_run_is_emptied(tmp_path: Path) -> None:
    data = tmp_path / "demo"
    _last_run(data)
    assert prepare_data_dir(data, keep=False) == data.resolve()
    assert list(data.iterdir()) == []


def test_keep_leaves_the_previous_run(tmp_path: Path) -> None:
    data = tmp_path / "demo"
    before = _last_run(data)
    prepare_data_dir(data, keep=True)
    assert sorted(p.name for p in data.iterdir()) == before
    assert (data / "outbox.jsonl").read_text() == "from the last run\n"


def test_a_missing_directory_is_made(tmp_path: Path) -> None:
    data = tmp_path / "a" / "demo"
    prepare_data_dir(data, keep=False)
    assert data.is_dir()


def test_a_directory_with_anything_else_is_refused_and_left_alone(tmp_path: Path) -> None:
    data = tmp_path / "demo"
    before = _last_run(data)
    (data / "thesis.tex").write_text("mine\n")
    with pytest.raises(DemoDirError, match=r"thesis\.tex.*choose another --data-dir"):
        prepare_data_dir(data, keep=False)
    assert sorted(p.name for p in data.iterdir()) == sorted([*before, "thesis.tex"])
    assert foreign_entries(data) == ["thesis.tex"]


def test_the_checkout_itself_is_refused(tmp_path: Path) -> None:
    """``--data-dir .`` in a checkout: its files are not the demo's, nothing is deleted."""
    with pytest.raises(DemoDirError, match="holds files the demo did not make"):
        prepare_data_dir(ROOT, keep=False)
    assert (ROOT / "README.md").exists()


def test_a_running_demo_keeps_its_directory(tmp_path: Path) -> None:
    data = tmp_path / "demo"
    before = _last_run(data)
    (data / "coldwatch.db.lock").unlink()
    lock = StoreLock(data / "coldwatch.db").acquire()
    try:
        with pytest.raises(StoreLocked):
            prepare_data_dir(data, keep=False)
        assert sorted(p.name for p in data.iterdir()) == before
    finally:
        lock.release()


def test_the_command_exits_2_on_a_foreign_directory(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "demo"
    data.mkdir()
    (data / "notes.txt").write_text("mine\n")
    assert main(["demo", "--for", "1", "--data-dir", str(data)]) == 2
    assert "notes.txt" in capsys.readouterr().err
    assert (data / "notes.txt").exists()
    with pytest.raises(SystemExit):
        main(["demo", "--help"])
    assert "2 usage error, or --data-dir holds files the demo did not make" in " ".join(
        capsys.readouterr().out.split()
    )


def test_the_pin_file_is_the_owners_only(tmp_path: Path) -> None:
    path = write_pin(tmp_path)
    assert path.read_text().strip() == DEMO_PIN
    assert path.stat().st_mode & 0o777 == 0o600


@pytest.mark.skipif(shutil.which("make") is None, reason="no make")
@pytest.mark.parametrize(("keep", "flag"), [("", False), ("KEEP=1", True), ("KEEP=0", False)])
def test_make_demo_keeps_the_data_only_with_keep_1(keep: str, flag: bool) -> None:
    done = subprocess.run(
        ["make", "-n", "-s", "-C", str(ROOT), "demo", *([keep] if keep else [])],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    command = next(line for line in done.stdout.splitlines() if "coldwatch demo" in line)
    assert "--data-dir ./data/demo" in command
    assert ("--keep-data" in done.stdout) is flag
