"""``coldwatch demo``: a simulated facility, the daemon reading it, and where to look.

One process runs everything, on loopback and pseudo-terminals only: a private Mosquitto on
a free port when it is installed (else the MQTT device is left out, and the demo says so),
the simulators of ``config/sim-demo.yaml`` (every kind of equipment, five protocols), and
the coldwatch daemon reading them into the embedded SQLite store. Everything it makes goes
into ``--data-dir``: the coldwatch configuration it generated (``coldwatch.yaml``, valid for
``check-config``, ``status``, ``readings``, ``verify``), the store, the simulator
configuration in force (``sim.yaml``, for ``coldwatch sim fault -c``) and the pty links.
"""

from __future__ import annotations

import asyncio
import contextlib
import shlex
import shutil
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml
from rich.console import Console

from monitor.app.config import LoadedConfig, load
from monitor.app.daemon import Daemon, service_user
from monitor.app.demo_board import DemoBoard, terminal_width
from monitor.app.demo_console import (
    PREFERRED_PORT,
    console_port,
    console_text,
    make_demo_admin,
)
from monitor.app.demo_data import DEMO_PIN, prepare_data_dir, write_pin
from monitor.app.demo_screen import PLAIN_EVERY_S, show_board
from monitor.app.web.console import WebListenError
from monitor.core.file_access import FileAccess
from simulators.broker import PrivateBroker, mosquitto_binary
from simulators.coldwatch_config import coldwatch_config, write_config
from simulators.config import Broker, SimConfig
from simulators.control_client import state_file_for
from simulators.loader import load_sim_config
from simulators.report import devices_text, fault_hints, speed_text
from simulators.runner import serving, until_stopped
from simulators.simulation import Simulation

SIM_CONFIG = "sim-demo.yaml"


def find_sim_config() -> Path:
    for base in (Path.cwd(), Path(__file__).resolve().parents[1]):
        candidate = base / "config" / SIM_CONFIG
        if candidate.exists():
            return candidate
    raise SystemExit(f"config/{SIM_CONFIG} not found: run the demo from the coldwatch checkout")


def command_name() -> str:
    """How the reader can run coldwatch: on PATH, or the script that is running."""
    if shutil.which("coldwatch"):
        return "coldwatch"
    argv0 = Path(sys.argv[0])
    if argv0.name == "coldwatch":
        return str(argv0)
    return f"{sys.executable} -m monitor.app.cli"


#: The demo's alarm rules: the built-in SOP templates, bound to the simulated channels.
_DEMO_ALARMS: dict[str, Any] = {
    "ult-01": {
        "bind": {"temperature": "cabinet_temp"},
        "rules": {
            # on-delays run on reading timestamps, which are real time even when the
            # simulators run fast: the demo's are short so an excursion alarms within it
            "warm": {
                "on_delay": "10s",
                "contingency": "DEMO SOP-CC-012: keep the door shut; above -60 C move the "
                "product to backup freezer BF-02 and record the transfer.",
            }
        },
    },
    "dewar-01": {"rules": {"level": {"unit": "mm", "low": 90, "high": 165}}},
    "crf-01": {
        "bind": {"chamber": "cabinet_temp"},
        # the simulated controller does not publish its program: no profile rules
        "rules": {"chamber_deviation": {"enabled": False}, "sample_deviation": {"enabled": False}},
    },
}


#: How long each tier of the demo's call tree waits for an acknowledgement: short, like its
#: on-delays, so the escalation can be watched (and tested) within a few minutes.
DEMO_TIER_WAIT = "15s"


def demo_paging(data_dir: Path, pin_file: Path | None = None) -> dict[str, Any]:
    """Who the demo pages and how, all through the outbox (a file and stderr): the operator
    running it and the control room first, the supervisor after ``DEMO_TIER_WAIT`` without an
    acknowledgement, then the supervisor again every ``DEMO_TIER_WAIT`` until someone
    acknowledges; low-priority alarms (a server clock without NTP) page the operator once.
    ``coldwatch alarms ack`` works as the operator: the others are told it was acknowledged.
    The operator's PIN (what an SMS reply would carry) is read from ``pin_file``."""

    def person(pid: str, name: str, **more: Any) -> dict[str, Any]:
        return {"id": pid, "name": name, "channels": ["outbox"], **more}

    return {
        "notifiers": {
            "outbox": {"type": "outbox", "path": str((data_dir / "outbox.jsonl").resolve())}
        },
        "people": [
            person(
                "operator",
                "Demo operator",
                os_users=[service_user()],
                **({"pin_file": str(pin_file)} if pin_file else {}),
            ),
            person("control-room", "Demo control room"),  # a place, paged like a person
            person("supervisor", "Demo supervisor"),
        ],
        "escalation": {
            "policies": {
                "demo": {
                    "name": "demo call tree",
                    "tiers": [
                        {
                            "name": "operator",
                            "notify": ["person:operator", "person:control-room"],
                            "wait": DEMO_TIER_WAIT,
                        },
                        {
                            "name": "supervisor",
                            "notify": ["person:supervisor"],
                            "wait": DEMO_TIER_WAIT,
                        },
                    ],
                    "repeat": 0,
                },
                "notice": {
                    "name": "demo notices",
                    "tiers": [{"notify": ["person:operator"], "wait": "10m"}],
                    "repeat": 0,
                    "keep_paging": False,
                },
            },
            "routes": [{"match": {"priority": "low"}, "policy": "notice"}],
            "default_policy": "demo",
        },
    }


def demo_alarms(equipment: set[str]) -> dict[str, Any]:
    """The ``alarms:`` section for the equipment the demo runs."""
    return {"equipment": {k: v for k, v in _DEMO_ALARMS.items() if k in equipment}}


async def _broker(config: SimConfig, folder: Path) -> tuple[PrivateBroker | None, str]:
    """A private broker when the configuration has MQTT devices and Mosquitto is here."""
    mqtt = [d.id for d in config.devices if d.frontend.type == "mqtt"]
    if not mqtt:
        return None, ""
    binary = mosquitto_binary()
    if binary is None:
        return None, (
            f"  mosquitto is not installed: the MQTT device{'s' if len(mqtt) > 1 else ''} "
            f"{', '.join(mqtt)} left out (sudo apt-get install mosquitto, or `make demo` as "
            "root, adds it)"
        )
    broker = PrivateBroker(binary, folder)
    try:
        await broker.start()
    except Exception as exc:
        return None, f"  mosquitto did not start ({exc}): the MQTT devices are left out"
    return broker, f"  MQTT broker: a private mosquitto on {broker.host}:{broker.port}"


def _without_mqtt(config: SimConfig) -> SimConfig:
    devices = tuple(d for d in config.devices if d.frontend.type != "mqtt")
    return config.model_copy(update={"devices": devices})


async def run_demo(
    data_dir: Path,
    seconds: float | None,
    *,
    speed: float | None = None,
    poll_interval: float = 2.0,
    keep_data: bool = False,
    console: Console | None = None,
    plain_every: float = PLAIN_EVERY_S,
    stop: asyncio.Event | None = None,
) -> int:
    """Run the demo for ``seconds`` (None: until SIGINT/SIGTERM, or ``stop`` is set), drawing
    the board on ``console`` (default: stdout), then print the board once more. DemoDirError
    or StoreLocked before anything starts when ``data_dir`` cannot be used."""
    data_dir = prepare_data_dir(data_dir, keep_data)
    console = console or Console(width=None if sys.stdout.isatty() else terminal_width())
    source = find_sim_config()
    config = load_sim_config(source)
    broker, broker_note = await _broker(config, data_dir / "mosquitto")
    try:
        if broker is None:
            config = _without_mqtt(config)
        else:
            config = config.model_copy(update={"mqtt": Broker(host=broker.host, port=broker.port)})
        sim_file = data_dir / "sim.yaml"
        effective = config.model_dump(mode="json", exclude_defaults=True)
        sim_file.write_text(
            f"# the simulators of `coldwatch demo`, from {source}, as run\n"
            + yaml.safe_dump(effective, sort_keys=False)
        )
        sim = Simulation(config, run_dir=data_dir, speed=speed)
        state = state_file_for(sim_file)
        async with serving(sim, control_port=0, state_file=state, config=sim_file) as control:
            cw_file = data_dir / "coldwatch.yaml"
            data = coldwatch_config(
                sim, store_path=str(data_dir / "coldwatch.db"), poll_interval=poll_interval
            )
            # everything the demo makes stays in its data directory
            data["store"]["fallback_journal"] = str(data_dir / "coldwatch.db.fallback")
            data["alarms"] = demo_alarms({e["id"] for e in data["locations"][0]["equipment"]})
            outbox = data_dir / "outbox.jsonl"
            FileAccess().create(outbox)  # there from the start, for `tail -f`
            data.update(demo_paging(data_dir, write_pin(data_dir)))
            loaded, daemon = _daemon_with_console(data, cw_file, data_dir)
            port = daemon.loaded.config.web.port if daemon.loaded.config.web else 0
            board = DemoBoard(loaded, daemon.alarms, outbox)
            daemon.pipeline.inline.append(board)  # sees every reading, from the first
            await daemon.start()
            password = make_demo_admin(daemon, "operator")
            screen: asyncio.Task[None] | None = None
            try:
                paths = DemoPaths(cw_file, sim_file, outbox, str(control.port))
                print(_intro(sim, broker_note, paths, seconds))
                print("\n".join(console_text(f"http://127.0.0.1:{port}/", password)))
                sys.stdout.flush()
                screen = asyncio.create_task(
                    show_board(board, console, plain_every=plain_every), name="demo-board"
                )
                await _until(seconds, stop)
            finally:
                if screen is not None:
                    screen.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await screen
                await daemon.stop()
    finally:
        if broker is not None:
            await broker.stop()
    console.print(board.table(datetime.now(UTC)))
    return 0


def _daemon_with_console(
    data: dict[str, Any], cw_file: Path, data_dir: Path
) -> tuple[LoadedConfig, Daemon]:
    """The demo's daemon with its console on the usual port, or (taken meanwhile, e.g. by
    another demo starting at the same moment) on one the kernel picks."""
    preferred = PREFERRED_PORT
    while True:
        data["web"] = {"bind": "127.0.0.1", "port": console_port(preferred)}
        write_config(data, cw_file, "generated by `coldwatch demo`: reads its simulators")
        loaded = load(cw_file)
        try:
            return loaded, Daemon(loaded, base_dir=data_dir)
        except WebListenError:
            if preferred == 0:
                raise
            preferred = 0


async def _until(seconds: float | None, stop: asyncio.Event | None) -> None:
    """Return on SIGINT/SIGTERM, after ``seconds``, or when ``stop`` is set."""
    if stop is None:
        await until_stopped(seconds)
        return
    waits = [asyncio.ensure_future(until_stopped(seconds)), asyncio.ensure_future(stop.wait())]
    try:
        await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for wait in waits:
            wait.cancel()
        await asyncio.gather(*waits, return_exceptions=True)


@dataclass(frozen=True)
class DemoPaths:
    """Where the intro sends the reader: the configurations, the pages, the control port."""

    config: Path
    sim: Path
    outbox: Path
    control: str


def _intro(sim: Simulation, broker_note: str, paths: DemoPaths, seconds: float | None) -> str:
    cw = command_name()
    config = shlex.quote(str(paths.config))
    first = next(iter(sim.devices))
    lines = [
        f"coldwatch demo: a simulated facility at {speed_text(sim.speed)}",
        devices_text(sim),
    ]
    if broker_note:
        lines.append(broker_note)
    lines += [
        f"  coldwatch reads them with {paths.config} into {paths.config.with_name('coldwatch.db')}",
        "  (a fresh data directory at each start: --keep-data, or make demo KEEP=1, keeps it)",
        "",
        "  break something (in another terminal): open ult-01's door, and within a minute its",
        "  cabinet warms past -65 C (a HIGH alarm) and -60 C (CRITICAL):",
        fault_hints(sim, paths.sim, paths.control, prog=cw, example=("ult-01", "door_open")),
        "  compressor_failure on ult-01 is slower: past -65 C in about two simulated hours,",
        "  two minutes at 60x.",
        "",
        "  alarms: list them, and acknowledge one by its code (the alarm column) as the demo",
        "  operator (your account):",
        f"    {cw} alarms list -c {config}",
        f'    {cw} alarms ack CODE -c {config} --comment "door closed, product checked"',
        f"  pages go to {paths.outbox} (and appear above the table); nothing is sent.",
        "  They ask for an SMS reply 'ACK <code> <PIN> <comment>': the demo operator's PIN is",
        f"  {DEMO_PIN} (a demo-only PIN; the demo has no SMS gateway: use `alarms ack` above).",
        "",
        "  look:",
        f"    {cw} status -c {config}",
        f"    {cw} readings -c {config} --channel {first}.cabinet_temp",
        f"    {cw} verify -c {config}",
        f"    {cw} sim status -c {shlex.quote(str(paths.sim))}",
        "  stop: Ctrl-C" if seconds is None else f"  running for {seconds:g} s",
    ]
    return "\n".join(lines)
