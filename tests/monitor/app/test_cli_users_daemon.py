"""``coldwatch user ...`` while the daemon runs (a real process): the requests go through its
control socket (it holds the store's lock: the command line could not write), as the OS user
the kernel names; an OS user not linked to an admin is refused; nothing secret is logged."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from monitor.app.daemon import service_user
from tests.support.paths import REPO

ME = service_user()
DEADLINE = 30.0


@pytest.fixture
def folder() -> Iterator[Path]:
    """A short folder (a Unix socket path holds 107 bytes)."""
    path = Path(tempfile.mkdtemp(prefix="cw-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def write_config(folder: Path, me_as: str) -> Path:
    data = {
        "site": {"id": "users", "name": "Users"},
        "store": {"path": str(folder / "cw.db")},
        "logging": {"level": "debug", "format": "json"},
        "alarms": {"system": {"clock_unsynchronised": {"enabled": False}}},
        "notifiers": {
            "outbox": {"type": "outbox", "path": str(folder / "out.jsonl"), "stderr": False}
        },
        "people": [
            {
                "id": p,
                "name": p.title(),
                "channels": ["outbox"],
                **({"os_users": [ME]} if p == me_as else {}),
            }
            for p in ("ada", "alice")
        ],
    }
    path = folder / f"as-{me_as}.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def _env() -> dict[str, str]:
    path = os.environ.get("PYTHONPATH")
    return {**os.environ, "PYTHONPATH": str(REPO) + (os.pathsep + path if path else "")}


def start(config: Path) -> subprocess.Popen[bytes]:
    with (config.parent / "daemon.log").open("ab") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "monitor.app.cli", "run", "-c", str(config)],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=_env(),
        )
    deadline = time.monotonic() + DEADLINE
    while not (config.parent / "control.sock").exists():
        assert proc.poll() is None, f"the daemon exited ({proc.returncode})"
        assert time.monotonic() < deadline, "the daemon did not serve its control socket"
        time.sleep(0.05)
    return proc


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(DEADLINE) == 0


def cli(config: Path, *args: str, stdin: str = "") -> tuple[int, str, str]:
    done = subprocess.run(
        [sys.executable, "-m", "monitor.app.cli", "user", *args, "-c", str(config)],
        input=stdin.encode(),
        capture_output=True,
        env=_env(),
        timeout=DEADLINE * 2,
        check=False,
    )
    return done.returncode, done.stdout.decode(), done.stderr.decode()


def test_user_commands_through_the_running_daemon(folder: Path) -> None:
    as_ada = write_config(folder, "ada")
    proc = start(as_ada)
    try:
        code, out, err = cli(
            as_ada, "add", "ada", "--name", "Ada Admin", "--role", "admin", "--person", "ada",
            "--first-admin", "--password-stdin", "--reason", "first admin",
            stdin="the first admin words\n",
        )  # fmt: skip
        assert code == 0, err
        code, out, err = cli(
            as_ada, "add", "alice", "--name", "Alice Tech", "--role", "technician",
            "--verified-by", "ada", "--person", "alice", "--password-stdin",
            "--reason", "ID checked", stdin="her temporary words\n",
        )  # fmt: skip
        assert code == 0, err
        code, out, err = cli(as_ada, "reset-password", "alice", "--reason", "forgot it")
        assert code == 0, err
        one_time = out.split("cannot sign): ")[1].strip()
        code, out, err = cli(as_ada, "list")
        assert code == 0, err
        assert [line.split()[:3] for line in out.splitlines()] == [
            ["ada", "admin", "enabled"],
            ["alice", "technician", "enabled"],
        ]
        assert proc.poll() is None  # the daemon made the changes, and runs on
        verify = subprocess.run(
            [sys.executable, "-m", "monitor.app.cli", "verify", "-c", str(as_ada)],
            capture_output=True, env=_env(), timeout=DEADLINE, check=False,
        )  # fmt: skip
        assert verify.returncode == 0
        assert b"user versions: 3 rows, hash chain intact" in verify.stdout
    finally:
        stop(proc)
    # the same OS account, now mapped to alice (a technician): refused by the daemon
    as_alice = write_config(folder, "alice")
    proc = start(as_alice)
    try:
        code, _, err = cli(as_alice, "role", "alice", "admin", "--reason", "promote myself")
        assert code == 1
        assert f"OS user {ME} (person alice) is not linked to an enabled admin user" in err
        code, _, err = cli(
            as_alice, "add", "eve", "--name", "Eve", "--role", "admin", "--first-admin",
            "--password-stdin", "--reason", "x", stdin="eve's long password\n",
        )  # fmt: skip
        assert code == 1 and "only for a store without users" in err
    finally:
        stop(proc)
    log = (folder / "daemon.log").read_text()
    assert "user alice: user_added by ada (OS user" in log
    for secret in ("the first admin words", "her temporary words", one_time, "$argon2"):
        assert secret not in log
