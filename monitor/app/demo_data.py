"""The demo's data directory: emptied at each start unless asked to keep it, and only ever of
what the demo itself makes there.

``coldwatch demo`` starts from a clean directory so that a newcomer sees a fresh facility,
not yesterday's alarms. It deletes nothing it did not make: a directory that holds anything
else is refused (choose another ``--data-dir``), and so is one whose store another coldwatch
holds (a demo still running there).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from monitor.store.lock import StoreLock

#: What the demo makes in its data directory (the store's side files start with its name).
STORE_NAME = "coldwatch.db"
PIN_NAME = "operator.pin"
DEMO_NAMES = frozenset(
    {
        "coldwatch.yaml",  # the coldwatch configuration it generated
        "sim.yaml",  # the simulators as run
        "sim.control.json",  # the simulators' control endpoint, while they run
        "outbox.jsonl",  # the pages
        "control.sock",  # the daemon's control socket, while it runs
        PIN_NAME,  # the demo operator's PIN
        "tty",  # the pty links of the serial devices
        "mosquitto",  # the private broker's configuration and data
    }
)
#: The demo operator's PIN: fixed, printed, for the demo only (4-12 digits).
DEMO_PIN = "2468"


class DemoDirError(Exception):
    """The data directory holds something the demo did not make."""


def is_demo_name(name: str) -> bool:
    return name in DEMO_NAMES or name.startswith(STORE_NAME)


def foreign_entries(data_dir: Path) -> list[str]:
    """What ``data_dir`` holds that the demo does not make there."""
    return sorted(e.name for e in data_dir.iterdir() if not is_demo_name(e.name))


def prepare_data_dir(data_dir: Path, keep: bool) -> Path:
    """``data_dir`` resolved and ready: emptied of a previous run unless ``keep``.

    DemoDirError when it holds anything else; StoreLocked when a coldwatch (another demo)
    holds its store."""
    data_dir = data_dir.resolve()
    if keep or not data_dir.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        return data_dir
    if not data_dir.is_dir():
        raise DemoDirError(f"{data_dir} is not a directory")
    foreign = foreign_entries(data_dir)
    if foreign:
        shown = ", ".join(foreign[:5]) + (f" and {len(foreign) - 5} more" if foreign[5:] else "")
        raise DemoDirError(
            f"{data_dir} holds files the demo did not make ({shown}): the demo empties its "
            "data directory at each start, so choose another --data-dir (or --keep-data to "
            "run in it as it is)"
        )
    lock = StoreLock(data_dir / STORE_NAME).acquire()  # StoreLocked: a demo runs there
    try:
        for entry in data_dir.iterdir():
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            elif entry.name != lock.path.name:
                entry.unlink()
    finally:
        lock.release()
    lock.path.unlink(missing_ok=True)
    return data_dir


def write_pin(data_dir: Path) -> Path:
    """The demo operator's PIN in a file only its owner reads (configured as ``pin_file``,
    the way a site keeps a PIN out of its configuration)."""
    path = data_dir / PIN_NAME
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(DEMO_PIN + "\n")
    return path
