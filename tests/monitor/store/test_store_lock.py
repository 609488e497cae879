"""One daemon per store: the lock file's own behaviour (the process test is in
tests/monitor/app/test_second_daemon.py)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from monitor.store.lock import StoreLock, StoreLocked, lock_path


def test_a_second_holder_is_refused_with_the_first_ones_pid_and_start(tmp_path: Path) -> None:
    store_file = tmp_path / "cw.db"
    first = StoreLock(store_file).acquire()
    try:
        with pytest.raises(StoreLocked) as refused:
            StoreLock(store_file).acquire()
        assert refused.value.pid == os.getpid()
        recorded = json.loads(lock_path(store_file).read_text())
        assert refused.value.started == recorded["started"]
        assert str(store_file) in str(refused.value)
        assert f"pid {os.getpid()}" in str(refused.value)
        assert oct(lock_path(store_file).stat().st_mode & 0o777) == oct(0o640)
    finally:
        first.release()
    again = StoreLock(store_file).acquire()  # released: free again
    assert again.held
    again.release()
    again.release()  # idempotent
    assert not again.held


def test_a_garbled_lock_file_still_refuses(tmp_path: Path) -> None:
    store_file = tmp_path / "cw.db"
    first = StoreLock(store_file).acquire()
    try:
        lock_path(store_file).write_bytes(b"\xff not json")
        with pytest.raises(StoreLocked) as refused:
            StoreLock(store_file).acquire()
        assert refused.value.pid is None
        assert "in use by coldwatch another process" in str(refused.value)
    finally:
        first.release()


def test_a_full_disk_does_not_stop_the_daemon_taking_its_lock(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_space(*args: object) -> int:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("monitor.store.lock.os.pwrite", no_space)
    lock = StoreLock(tmp_path / "cw.db").acquire()  # the holder's record is only a nicety
    try:
        assert lock.held
        with pytest.raises(StoreLocked):
            StoreLock(tmp_path / "cw.db").acquire()
    finally:
        lock.release()
