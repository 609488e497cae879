"""``coldwatch run`` as a real process, and the configuration pieces the faults share.

:class:`Daemons` starts the daemon as ``sys.executable -m monitor.app.cli run -c FILE`` (this
checkout first on ``PYTHONPATH``), its output appended to one log, and counts crashes: a
process that exits when nobody signalled it, a status other than 0 after SIGTERM, and every
Python traceback in the log. Nothing blocks the event loop (the Modbus server and the test's
own clients run in it): waits poll ``Popen.poll``, which also starts no child-watcher thread.

:func:`paging` is the paging every fault runs with: an alarm's tiers one second apart, the
last one paging again every second until the alarm is acknowledged or returns to normal,
all through an outbox file (the peer whose lines count as delivered pages).
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import yaml

ROOT = Path(__file__).resolve().parents[2]
DEADLINE = 30.0
"""Longest wait for anything a fault waits for (a loaded 2-core machine)."""
TRACEBACK = "Traceback (most recent call last)"

T = TypeVar("T")


def write_config(folder: Path, sections: dict[str, Any]) -> Path:
    """``coldwatch.yaml`` in ``folder``: a site, a store in ``folder``, JSON logs, and
    ``sections`` (devices, locations, alarms, paging...)."""
    data: dict[str, Any] = {
        "site": {"id": "faults", "name": "Fault suite", "timezone": "UTC"},
        "store": {"path": str(folder / "cw.db")},
        "logging": {"level": "info", "format": "json"},
        **sections,
    }
    path = folder / "coldwatch.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def paging(outbox: Path, alarms: dict[str, Any] | None = None) -> dict[str, Any]:
    """The ``alarms`` section (default: the SOP templates as they are), notifiers, people and
    escalation: everyone pages through ``outbox``; the site's alarms climb alice, bob, carol
    one second apart and page carol every second after that; coldwatch's own alarms (a
    monitoring gap, a device down) page dave."""
    people = ["alice", "bob", "carol", "dave"]
    return {
        "alarms": alarms or {},
        "notifiers": {"outbox": {"type": "outbox", "path": str(outbox), "stderr": False}},
        "people": [{"id": p, "name": p.title(), "channels": ["outbox"]} for p in people],
        "escalation": {
            "policies": {
                "tree": {
                    "tiers": [{"notify": [f"person:{p}"], "wait": "1s"} for p in people[:3]],
                    "repeat": 0,
                },
                "it": {"tiers": [{"notify": ["person:dave"], "wait": "1h"}]},
            },
            "routes": [{"match": {"condition": "system"}, "policy": "it"}],
            "default_policy": "tree",
        },
    }


class Daemon:
    """One ``coldwatch run`` process."""

    def __init__(self, proc: subprocess.Popen[bytes]) -> None:
        self.proc = proc
        self.expected: int | None = None
        """The exit status asked for by the signal sent (None: none sent)."""

    @property
    def running(self) -> bool:
        return self.proc.poll() is None

    def send(self, sig: signal.Signals) -> None:
        self.expected = -sig if sig == signal.SIGKILL else 0
        self.proc.send_signal(sig)

    async def exited(self) -> int:
        deadline = time.monotonic() + DEADLINE
        while (code := self.proc.poll()) is None:
            assert time.monotonic() < deadline, f"the daemon did not exit within {DEADLINE:g} s"
            await asyncio.sleep(0.02)
        return code

    async def stop(self, sig: signal.Signals = signal.SIGTERM) -> int:
        self.send(sig)
        return await self.exited()

    @property
    def crashed(self) -> bool:
        """Exited by itself, or not with the status the signal asked for."""
        code = self.proc.poll()
        return code is not None and code != self.expected


class Daemons:
    """The daemons of one fault, on one configuration and one log; :meth:`close` kills
    whatever still runs."""

    def __init__(self, config: Path) -> None:
        self.config = config
        self.log = config.parent / "daemon.log"
        self.started: list[Daemon] = []

    def start(self) -> Daemon:
        path = os.environ.get("PYTHONPATH")
        env = {
            **os.environ,
            "PYTHONUNBUFFERED": "1",
            "PYTHONPATH": str(ROOT) + (os.pathsep + path if path else ""),
        }
        with self.log.open("ab") as out:
            proc = subprocess.Popen(
                [sys.executable, "-m", "monitor.app.cli", "run", "-c", str(self.config)],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=self.config.parent,
            )
        daemon = Daemon(proc)
        self.started.append(daemon)
        return daemon

    async def until(self, what: str, probe: Callable[[], T | None], every: float = 0.02) -> T:
        """Poll ``probe`` until it returns something; fail if a daemon died meanwhile."""
        found = await self.wait(probe, DEADLINE, every)
        for daemon in self.started:
            assert not daemon.crashed, f"a daemon exited ({daemon.proc.returncode}): {what}"
        assert found is not None, f"no {what} within {DEADLINE:g} s"
        return found

    async def wait(
        self, probe: Callable[[], T | None], timeout: float, every: float = 0.02
    ) -> T | None:
        """Poll ``probe`` until it returns something, a daemon dies or ``timeout`` passes."""
        deadline = time.monotonic() + timeout
        while (found := probe()) is None:
            if time.monotonic() > deadline or any(d.crashed for d in self.started):
                return None
            await asyncio.sleep(every)
        return found

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def crashes(self) -> int:
        """Daemons that crashed, and tracebacks in their log."""
        return sum(d.crashed for d in self.started) + self.log_text().count(TRACEBACK)

    def close(self) -> None:
        for daemon in self.started:
            if daemon.running:
                daemon.proc.kill()
            daemon.proc.wait(timeout=DEADLINE)


def freezers_on_one_device(
    port: int, addresses: dict[str, int], interval: float, outbox: Path
) -> dict[str, Any]:
    """Sections for ULT freezers read from one Modbus TCP device (``tsx`` at ``port``), one
    channel each (``<freezer>.cabinet_temp``: int32 tenths at its holding register); the
    first freezer's warm alarm pages at once through :func:`paging`."""

    def freezer(channel: str) -> dict[str, Any]:
        source = {"device": "tsx", "register": "holding", "address": addresses[channel]}
        return {
            "id": channel.split(".")[0],
            "kind": "ult_freezer",
            "channels": [
                {
                    "id": "cabinet_temp",
                    "quantity": "temperature",
                    "unit": "C",
                    "source": {**source, "type": "int32", "scale": 0.1},
                }
            ],
        }

    settings = {"transport": "tcp", "host": "127.0.0.1", "port": port, "unit": 1}
    first = next(iter(addresses)).split(".")[0]
    rules = {"warm": {"on_delay": 0, "off_delay": 0}, "warm_warning": {"enabled": False}}
    return {
        "devices": [
            {
                "id": "tsx",
                "driver": "modbus",
                "interval": f"{interval:g}s",
                "timeout": "800ms",
                "settings": {**settings, "request_timeout": "500ms"},
            }
        ],
        "locations": [{"id": "room", "equipment": [freezer(c) for c in addresses]}],
        **paging(outbox, alarms={"equipment": {first: {"rules": rules}}}),
    }
