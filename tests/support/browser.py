"""The web console in a real browser: Debian's chromium driven headless by Playwright (never a
browser Playwright downloads), a real ``coldwatch run`` with its console and a real Modbus
freezer (a pymodbus server in a thread) behind it, users made by ``coldwatch user add``, and
axe-core (vendored, test-only) run inside each page.

Without chromium the browser tests skip with the reason, except under ``CI=true`` where they
fail: on CI ``make test`` installs it, so a missing browser is a broken run, not a pass."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from monitor.app.daemon import service_user
from tests.support.identity_web import HIDDEN_CSRF
from tests.support.modbus_server import ModbusTestServer, Unit, at, encode
from tests.support.paths import REPO
from tests.support.ports import free_port
from tests.support.web import start_daemon, stop_daemon, wait_until_serving, web_daemon_config

CHROMIUM = Path("/usr/bin/chromium")
AXE = REPO / "tests" / "support" / "vendor" / "axe-core" / "axe.min.js"
#: sha256 of the vendored axe.min.js (tests/support/vendor/axe-core/README.md).
AXE_SHA256 = "29348999450cdf2849a8e70b7912fc2da85a849da39c0d0d5394f51d4a9ed95c"
#: Impacts a page may not have (axe's scale: minor, moderate, serious, critical).
FORBIDDEN_IMPACTS = frozenset({"serious", "critical"})

#: The freezer's cabinet probe register (config/example.yaml) and the value served: -80.0 C.
CABINET = 0x540
CABINET_TENTHS = -800
#: The freezer's ``warm`` rule (the ult_freezer template: high at -65 C) raises after this
#: on-delay here (5 minutes in the template), so a browser test sees its alarm within seconds.
WARM_ON_DELAY = "2s"

ADMIN, ADMIN_NAME, ADMIN_PASSWORD = "ada", "Ada Admin", "the first admin's long passphrase"
TECH, TECH_NAME = "tina", "Tina Technician"
#: What the admin gave tina (one-time: changed at her first sign-in) and what she chose then.
TECH_ONE_TIME, TECH_PASSWORD = "given by the admin, once", "a technician's long passphrase"
QA, QA_NAME = "quinn", "Quinn Quality"
QA_ONE_TIME, QA_PASSWORD = "handed to QA by the admin", "the QA reviewer's long passphrase"


def chromium_or_skip() -> Path:
    """Debian's chromium, or a skip that says why (a failure under ``CI=true``)."""
    if CHROMIUM.exists():
        return CHROMIUM
    why = f"{CHROMIUM} is missing: `make test` installs Debian's chromium as root (apt-get)"
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI=true and {why}", pytrace=False)
    pytest.skip(why)


def launch_options() -> dict[str, Any]:
    """How Playwright starts Debian's chromium: headless, the system binary, no sandbox as root
    (chromium refuses to start sandboxed as root), shared memory in /tmp (a container's
    /dev/shm is often 64 MB, too small for chromium)."""
    args = ["--disable-dev-shm-usage"] + (["--no-sandbox"] if os.geteuid() == 0 else [])
    return {"executable_path": str(chromium_or_skip()), "headless": True, "args": args}


def axe_source() -> str:
    source = AXE.read_bytes()
    assert hashlib.sha256(source).hexdigest() == AXE_SHA256, f"{AXE} is not the vendored file"
    return source.decode()


async def axe_violations(page: Any) -> list[dict[str, Any]]:
    """axe-core's serious and critical violations on ``page`` as it is now. The console's CSP
    allows no inline script, so axe is evaluated through the DevTools protocol, not a tag."""
    await page.evaluate(axe_source())
    result: dict[str, Any] = await page.evaluate("async () => await axe.run(document)")
    return [
        {
            "id": v["id"],
            "impact": v["impact"],
            "help": v["help"],
            "nodes": [n["target"] for n in v["nodes"]][:5],
        }
        for v in result["violations"]
        if v.get("impact") in FORBIDDEN_IMPACTS
    ]


async def check_accessibility(page: Any, url: str) -> None:
    """Open ``url`` in ``page`` (signed in or not, as the caller set it up) and assert axe
    finds no serious or critical violation there. A new page's test calls this with its URL."""
    response = await page.goto(url)
    assert response is not None and response.ok, f"{url}: {response and response.status}"
    violations = await axe_violations(page)
    assert violations == [], f"{url}: {violations}"


async def sign_in(page: Any, base: str, user_id: str, password: str) -> None:
    """Through the sign-in form, as a person would."""
    await page.goto(base + "signin")
    await page.get_by_label("User id").fill(user_id)
    await page.get_by_label("Password").fill(password)
    async with page.expect_navigation():
        await page.get_by_role("button", name="Sign in").click()


class ThreadedModbus:
    """A pymodbus server (the freezer's controller) on its own event loop in a thread, so that
    synchronous Playwright tests can run beside it."""

    def __init__(self, unit: Unit) -> None:
        self.server = ModbusTestServer(0, {1: unit}, "tcp")
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="modbus", daemon=True)

    def __enter__(self) -> ThreadedModbus:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self.server.start(), self._loop).result(10)
        return self

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self.server.stop(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    @property
    def port(self) -> int:
        return self.server.port

    def write_holding(self, address: int, values: list[int]) -> None:
        """Change what the controller serves (e.g. the cabinet warming), from any thread."""
        write = self.server.write(1, "holding", address, values)
        asyncio.run_coroutine_threadsafe(write, self._loop).result(10)


def coldwatch(folder: Path, *args: str, stdin: str = "") -> str:
    """Run ``coldwatch ARGS`` as a process; its standard output (exit 0 asserted)."""
    done = subprocess.run(
        [sys.executable, "-m", "monitor.app.cli", *args],
        input=stdin,
        capture_output=True,
        text=True,
        cwd=folder,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, f"coldwatch {' '.join(args)}: {done.stderr}"
    return done.stdout


def console_config(folder: Path, modbus_port: int) -> tuple[Path, int]:
    """The example site, its freezer read from ``modbus_port`` every second, the console on a
    free port, the freezer's ``warm`` rule on a short on-delay, and three people: ada (this OS
    user; the first admin), tina (technician) and quinn (QA)."""
    port = free_port()
    config = web_daemon_config(folder, {"port": port})
    data: dict[str, Any] = yaml.safe_load(config.read_text())
    data["devices"][0]["settings"]["port"] = modbus_port
    data["store"]["commit_interval"] = "200ms"
    data["notifiers"] = {"outbox": {"type": "outbox", "path": str(folder / "outbox.jsonl")}}
    data["people"] = [
        {"id": ADMIN, "name": ADMIN_NAME, "channels": ["outbox"], "os_users": [service_user()]},
        {"id": TECH, "name": TECH_NAME, "channels": ["outbox"]},
        {"id": QA, "name": QA_NAME, "channels": ["outbox"]},
    ]
    for room in data["locations"]:  # the alarm templates need more of the other equipment
        room["equipment"] = [e for e in room["equipment"] if e["id"] == "freezer-07"]
    data["alarms"] = {
        "equipment": {
            "freezer-07": {
                "bind": {"temperature": "cabinet_temp"},
                "rules": {"warm": {"on_delay": WARM_ON_DELAY}},
            }
        }
    }
    config.write_text(yaml.safe_dump(data, sort_keys=False))
    return config, port


def add_people(config: Path) -> None:
    """The first admin on the command line, then a technician and a QA reviewer she verified
    (real argon2), each with a one-time password."""
    folder, c = config.parent, str(config)
    coldwatch(
        folder, "user", "add", ADMIN, "-c", c, "--name", ADMIN_NAME, "--role", "admin",
        "--person", ADMIN, "--first-admin", "--password-stdin", "--reason", "first admin",
        stdin=ADMIN_PASSWORD + "\n",
    )  # fmt: skip
    coldwatch(
        folder, "user", "add", TECH, "-c", c, "--name", TECH_NAME, "--role", "technician",
        "--person", TECH, "--verified-by", ADMIN, "--password-stdin",
        "--reason", "new technician, ID card checked", stdin=TECH_ONE_TIME + "\n",
    )  # fmt: skip
    coldwatch(
        folder, "user", "add", QA, "-c", c, "--name", QA_NAME, "--role", "qa",
        "--person", QA, "--verified-by", ADMIN, "--password-stdin",
        "--reason", "new QA reviewer, ID card checked", stdin=QA_ONE_TIME + "\n",
    )  # fmt: skip


def choose_first_password(url: str, user_id: str, one_time: str, chosen: str) -> None:
    """A user's first sign-in through the console's forms: the one-time password an admin
    gave, then their own."""
    with httpx.Client(base_url=url, timeout=10) as client:
        page = client.get("signin")
        csrf = HIDDEN_CSRF.search(page.text)
        assert csrf is not None, page.text
        form = {"user_id": user_id, "csrf_token": csrf[1], "next": "/"}
        asked = client.post("signin", data={**form, "password": one_time})
        assert "Choose a password" in asked.text, asked.text
        csrf = HIDDEN_CSRF.search(asked.text)  # the form came with a fresh pre-session token
        assert csrf is not None, asked.text
        form["csrf_token"] = csrf[1]
        done = client.post(
            "signin/password", data={**form, "current": one_time, "new": chosen, "repeat": chosen}
        )
        assert done.status_code == 303, done.text


@dataclass
class Console:
    """A running ``coldwatch run`` with its console: where it answers and what it holds."""

    url: str
    folder: Path
    store: Path
    proc: subprocess.Popen[str]
    modbus: ThreadedModbus
    """The freezer's controller: a test changes what it serves."""
    ended: tuple[str, str] | None = None
    """Its standard output and error once a test has stopped it (:meth:`sigterm`)."""

    def sigterm(self, timeout: float = 15.0) -> float:
        """SIGTERM, as systemd stops it; the seconds until the process had exited."""
        started = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.ended = self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.ended = self.proc.communicate()
        return time.monotonic() - started

    def readings(self, sql: str = "SELECT count(*) FROM readings") -> Any:
        with sqlite3.connect(f"file:{self.store}?mode=ro", uri=True, timeout=5) as conn:
            return conn.execute(sql).fetchone()[0]


@contextlib.contextmanager
def running_console() -> Iterator[Console]:
    """A daemon reading a -80 C freezer from a real Modbus server, with ada, tina and quinn as
    users.
    On leaving it is stopped (if a test has not) and must have exited 0 without a traceback.
    The folder is short: the control socket's path holds at most 107 bytes."""
    folder = Path(tempfile.mkdtemp(prefix="cw-br-"))
    try:
        with ThreadedModbus(Unit(holding=at(CABINET, encode(CABINET_TENTHS, "int32")))) as mb:
            config, port = console_config(folder, mb.port)
            add_people(config)
            proc = start_daemon(config, folder)
            console = Console(f"http://127.0.0.1:{port}/", folder, folder / "cw.db", proc, mb)
            try:
                wait_until_serving(console.url, proc)
                choose_first_password(console.url, TECH, TECH_ONE_TIME, TECH_PASSWORD)
                choose_first_password(console.url, QA, QA_ONE_TIME, QA_PASSWORD)
                yield console
            finally:
                _, err = console.ended or stop_daemon(proc)
                assert proc.returncode == 0, err
                assert "Traceback" not in err, err
    finally:
        shutil.rmtree(folder, ignore_errors=True)
