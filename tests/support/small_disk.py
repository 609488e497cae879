"""A real, small filesystem for disk-full tests: a tmpfs mounted under the test's folder (root
only: CI and the dev machines run as root), and a way to take its last free byte."""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

DISK_BYTES = 8 * 1024 * 1024


@pytest.fixture(name="small_disk")
def small_disk_fixture(tmp_path: Path) -> Iterator[Path]:
    """An 8 MiB tmpfs at ``tmp_path / "disk"``, unmounted after the test."""
    if os.geteuid() != 0:
        pytest.skip("mounting a small filesystem needs root (CI and the dev machines run as root)")
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={DISK_BYTES},mode=0750", "tmpfs", str(mount)],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def fill(disk: Path) -> Path:
    """Take every free byte of ``disk``; returns the filler file (delete it to free them)."""
    filler = disk / "filler"
    # unbuffered: a buffered file keeps the bytes the last write could not place and raises
    # ENOSPC again when it closes (outside the suppress), depending on how the free space
    # happens to align with the chunks
    with filler.open("wb", buffering=0) as handle, contextlib.suppress(OSError):
        while True:
            handle.write(b"\0" * 65536)
    return filler
