"""``coldwatch user ...`` without a daemon: on a real SQLite store under its lock, as the OS
user running the test; passwords from standard input; `coldwatch verify` over the result."""

from __future__ import annotations

import io
import logging
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from monitor.app.cli import main
from monitor.app.daemon import service_user
from monitor.store.lock import StoreLock
from tests.support.alarm_engine import config_data
from tests.support.fakes import write_config

ME = service_user()
ADMIN_PASSWORD = "the first admin's words"


def site(folder: Path, me_as: str = "ada", name: str = "config.yaml") -> str:
    """A site whose people are ada and alice; the test's OS user is ``me_as``."""
    people = [
        {
            "id": p,
            "name": p.title(),
            "channels": ["outbox"],
            **({"os_users": [ME]} if p == me_as else {}),
        }
        for p in ("ada", "alice")
    ]
    data: dict[str, Any] = {
        **config_data(),
        "store": {"path": str(folder / "cw.db")},
        "notifiers": {"outbox": {"type": "outbox", "path": str(folder / "out.jsonl")}},
        "people": people,
    }
    return str(write_config(folder, data, name=name))


def run(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *args: str, stdin: str = ""
) -> tuple[int, str, str]:
    monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def first_admin(mp: pytest.MonkeyPatch, cap: pytest.CaptureFixture[str], config: str) -> None:
    code, out, err = run(
        mp, cap, "user", "add", "ada", "-c", config, "--name", "Ada Admin", "--role", "admin",
        "--person", "ada", "--first-admin", "--password-stdin", "--reason", "first admin",
        stdin=ADMIN_PASSWORD + "\n",
    )  # fmt: skip
    assert (code, err) == (0, ""), err
    assert out.splitlines() == ["user ada: added (version 1)"]


def test_users_end_to_end_without_a_daemon(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    config = site(tmp_path)
    mp, cap = monkeypatch, capsys
    code, _, err = run(mp, cap, "user", "list", "-c", config)
    assert code == 1 and "not linked to an enabled admin" in err  # no users: nobody may list
    first_admin(mp, cap, config)
    code, _, err = run(
        mp, cap, "user", "add", "mallory", "-c", config, "--name", "M", "--role", "admin",
        "--first-admin", "--password-stdin", "--reason", "x", stdin="another long password\n",
    )  # fmt: skip
    assert code == 1 and "only for a store without users" in err
    code, out, err = run(
        mp, cap, "user", "add", "alice", "-c", config, "--name", "Alice Tech", "--role",
        "technician", "--verified-by", "ada", "--person", "alice", "--password-stdin",
        "--reason", "new technician, ID card checked", stdin="alice's first one\n",
    )  # fmt: skip
    assert code == 1 and "must not contain the user id" in err
    code, out, err = run(
        mp, cap, "user", "add", "alice", "-c", config, "--name", "Alice Tech", "--role",
        "technician", "--verified-by", "ada", "--person", "alice", "--password-stdin",
        "--reason", "new technician, ID card checked", stdin="her first password\n",
    )  # fmt: skip
    assert code == 0, err
    assert "the password given is one-time" in out
    assert (
        run(mp, cap, "user", "role", "alice", "supervisor", "-c", config, "--reason", "lead")[0]
        == 0
    )
    code, out, _ = run(mp, cap, "user", "reset-password", "alice", "-c", config, "--reason", "lost")
    assert code == 0
    one_time = out.split("cannot sign): ")[1].strip()
    assert len(one_time) == 16
    assert run(mp, cap, "user", "disable", "alice", "-c", config, "--reason", "left")[0] == 0
    code, _, err = run(mp, cap, "user", "disable", "alice", "-c", config, "--reason", "again")
    assert code == 1 and "disabled already" in err
    code, _, err = run(mp, cap, "user", "role", "alice", "boss", "-c", config, "--reason", "x")
    assert code == 2 and "unknown role 'boss'" in err
    code, out, _ = run(mp, cap, "user", "list", "-c", config)
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split()[:4] == ["ada", "admin", "enabled", "person"]
    assert lines[1].split()[:5] == ["alice", "supervisor", "disabled", "person", "alice"]
    assert "(version 4, disabled by ada)" in lines[1]
    code, out, _ = run(mp, cap, "verify", "-c", config)
    assert code == 0 and "user versions: 5 rows, hash chain intact" in out
    db = sqlite3.connect(tmp_path / "cw.db")
    versions = db.execute(
        "SELECT version, change, changed_by, os_user, verified_by, reason FROM user_versions "
        "WHERE user_id = 'alice' ORDER BY version"
    ).fetchall()
    db.close()
    assert versions[0] == (1, "added", "ada", ME, "ada", "new technician, ID card checked")
    assert [v[1] for v in versions] == ["added", "role", "password_reset", "disabled"]
    for secret in (ADMIN_PASSWORD, "her first password", one_time):
        assert secret not in caplog.text
    assert "$argon2" not in caplog.text


def test_a_non_admin_os_user_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    config = site(tmp_path)
    first_admin(monkeypatch, capsys, config)
    assert run(
        monkeypatch, capsys, "user", "add", "alice", "-c", config, "--name", "Alice",
        "--role", "technician", "--verified-by", "ada", "--person", "alice",
        "--password-stdin", "--reason", "new", stdin="her first password\n",
    )[0] == 0  # fmt: skip
    as_alice = site(tmp_path, me_as="alice", name="as-alice.yaml")
    code, _, err = run(
        monkeypatch, capsys, "user", "role", "alice", "admin", "-c", as_alice, "--reason", "me"
    )
    assert code == 1
    assert f"OS user {ME} (person alice) is not linked to an enabled admin user" in err
    as_nobody = site(tmp_path, me_as="nobody", name="as-nobody.yaml")
    code, _, err = run(monkeypatch, capsys, "user", "list", "-c", as_nobody)
    assert code == 1 and "no coldwatch person" in err


def test_passwords_never_come_from_the_command_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    config = site(tmp_path)
    with pytest.raises(SystemExit) as info:
        main(["user", "add", "x1", "-c", config, "--name", "X", "--role", "qa", "--reason",
              "r", "--password", "on the command line"])  # fmt: skip
    assert info.value.code == 2
    capsys.readouterr()
    code, _, err = run(
        monkeypatch, capsys, "user", "add", "ada", "-c", config, "--name", "Ada", "--role",
        "admin", "--first-admin", "--reason", "r",
    )  # fmt: skip
    assert code == 2 and "use --password-stdin" in err  # no terminal to prompt on
    code, _, err = run(
        monkeypatch, capsys, "user", "add", "ada", "-c", config, "--name", "Ada", "--role",
        "admin", "--first-admin", "--password-stdin", "--reason", "r", stdin="\n",
    )  # fmt: skip
    assert code == 2 and "no password on standard input" in err


def test_a_locked_store_without_a_socket_is_said_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    config = site(tmp_path)
    lock = StoreLock(tmp_path / "cw.db").acquire()
    try:
        code, _, err = run(monkeypatch, capsys, "user", "list", "-c", config)
    finally:
        lock.release()
    assert code == 1 and "serves no control socket for user commands" in err


def test_api_tokens_from_the_command_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    config = site(tmp_path)
    mp, cap = monkeypatch, capsys
    first_admin(mp, cap, config)
    code, out, err = run(
        mp, cap, "user", "token-add", "BMS bridge", "-c", config, "--role", "viewer",
        "--days", "30", "--reason", "the BMS reads alarms",
    )  # fmt: skip
    assert code == 0, err
    head, token = out.splitlines()
    token_id = head.split()[2]
    assert head.startswith(f"API token {token_id} (expires ") and len(token) >= 43
    code, _, err = run(
        mp, cap, "user", "token-add", "x", "-c", config, "--role", "admin", "--reason", "r"
    )
    assert code == 1 and "cannot be an admin" in err
    code, _, err = run(
        mp, cap, "user", "token-add", "LIMS", "-c", config, "--role", "technician",
        "--reason", "r",
    )  # fmt: skip
    assert code == 1 and "only reads (viewer)" in err and "--for USER_ID" in err
    code, _, err = run(
        mp, cap, "user", "token-add", "LIMS", "-c", config, "--role", "technician",
        "--for", "ada", "--reason", "r",
    )  # fmt: skip
    assert code == 1 and "at most its owner's (ada is admin, not technician)" in err
    code, _, err = run(
        mp, cap, "user", "token-add", "LIMS", "-c", config, "--role", "viewer",
        "--for", "tina", "--reason", "r",
    )  # fmt: skip
    assert code == 1 and "a token that acts for a person is made by that person" in err
    code, out, err = run(
        mp, cap, "user", "token-add", "Ada's script", "-c", config, "--role", "viewer",
        "--for", "ada", "--reason", "her own reports",
    )  # fmt: skip
    assert code == 0, err
    owned = out.splitlines()[0].split()[2]
    code, out, _ = run(mp, cap, "user", "token-revoke", token_id, "-c", config, "--reason", "gone")
    assert (code, out) == (0, f"API token {token_id}: revoked\n")
    code, _, err = run(mp, cap, "user", "token-revoke", token_id, "-c", config, "--reason", "again")
    assert code == 1 and "revoked already" in err
    code, out, _ = run(mp, cap, "verify", "-c", config)
    assert code == 0 and "API token log: 3 rows, hash chain intact" in out
    db = sqlite3.connect(tmp_path / "cw.db")
    stored = db.execute("SELECT token_hash FROM api_token_log").fetchall()
    owners = dict(db.execute("SELECT token_id, owner FROM api_token_log").fetchall())
    db.close()
    assert token not in {row[0] for row in stored}  # only its hash
    assert owners == {token_id: None, owned: "ada"}


def test_the_first_admin_is_linked_to_the_os_users_own_person(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    config = site(tmp_path)
    args = ["user", "add", "ada", "-c", config, "--name", "Ada", "--role", "admin",
            "--first-admin", "--password-stdin", "--reason", "first"]  # fmt: skip
    code, _, err = run(monkeypatch, capsys, *args, stdin=ADMIN_PASSWORD + "\n")
    assert code == 1 and "--person ada (your OS user" in err
    code, _, err = run(monkeypatch, capsys, *args, "--person", "alice", stdin=ADMIN_PASSWORD + "\n")
    assert code == 1 and "--person ada" in err
    nobody = site(tmp_path, me_as="nobody", name="nobody.yaml")
    code, _, err = run(
        monkeypatch, capsys, *[nobody if a == config else a for a in args], "--person", "ada",
        stdin=ADMIN_PASSWORD + "\n",
    )  # fmt: skip
    assert code == 1 and "is in no people[].os_users" in err
    code, out, _ = run(monkeypatch, capsys, "verify", "-c", config)
    assert "user versions: 0 rows" in out  # nothing was added


def test_the_configured_password_rules_apply_on_the_command_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """``web.password`` is what the commands check, not the defaults behind it."""
    import yaml

    config = site(tmp_path)
    data = yaml.safe_load(Path(config).read_text())
    data["web"] = {"enabled": False, "password": {"min_length": 30}}
    Path(config).write_text(yaml.safe_dump(data))
    code, _, err = run(
        monkeypatch, capsys, "user", "add", "ada", "-c", config, "--name", "Ada", "--role",
        "admin", "--person", "ada", "--first-admin", "--password-stdin", "--reason", "first",
        stdin=ADMIN_PASSWORD + "\n",
    )  # fmt: skip
    assert code != 0, err
    assert "30" in err, err
