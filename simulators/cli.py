"""``coldwatch sim``: run simulated equipment, and talk to a running simulator.

    coldwatch sim -c FILE [--speed N] [--control PORT] [--coldwatch-config OUT] [--for S]
    coldwatch sim fault  (-c FILE | --control PORT) --device ID --fault NAME [--clear]
    coldwatch sim status (-c FILE | --control PORT) [--format text|json]
    coldwatch sim advance (-c FILE | --control PORT) --seconds N

The running simulator writes its control address beside FILE (see
:mod:`simulators.control_client`); the other actions find it there.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import Any

from monitor.config.issues import ConfigError
from simulators.control_client import (
    Address,
    ControlError,
    call,
    parse_address,
    read_state,
    state_file_for,
)

EXIT_OK, EXIT_FAILED, EXIT_CONFIG = 0, 1, 2


def add_parser(sub: Any) -> None:
    """Add ``sim`` to the ``coldwatch`` command's subparsers."""
    p = sub.add_parser(
        "sim",
        help="run simulated equipment, or inject faults into a running simulator",
        description="Run the simulated devices of a simulator configuration (Modbus, serial, "
        "MQTT front ends over physics models) until Ctrl-C; or, with an action, talk to a "
        "running one. See docs/simulators.md.",
    )
    _target(p, argparse_default=None)
    p.add_argument("--speed", type=float, help="simulated seconds per real second (e.g. 60)")
    p.add_argument(
        "--coldwatch-config",
        metavar="OUT",
        help="write a coldwatch configuration that reads these simulators to OUT",
    )
    p.add_argument(
        "--poll-interval",
        type=float,
        default=2.0,
        metavar="S",
        help="poll interval in that configuration (default 2)",
    )
    p.add_argument("--for", dest="seconds", type=float, metavar="S", help="stop after S seconds")
    actions = p.add_subparsers(dest="sim_action", metavar="[ACTION]")

    f = actions.add_parser("fault", help="start or clear a fault on a running simulator")
    _target(f, argparse_default=argparse.SUPPRESS)
    f.add_argument("--device", required=True, metavar="ID")
    f.add_argument("--fault", required=True, metavar="NAME", help="e.g. door_open, comm_drop")
    f.add_argument("--clear", action="store_true", help="end the fault instead")

    s = actions.add_parser("status", help="devices, faults and values of a running simulator")
    _target(s, argparse_default=argparse.SUPPRESS)
    s.add_argument("--format", choices=["text", "json"], default="text")

    a = actions.add_parser("advance", help="fast-forward simulated time")
    _target(a, argparse_default=argparse.SUPPRESS)
    a.add_argument("--seconds", type=float, required=True, metavar="S", help="simulated seconds")
    p.set_defaults(func=cmd_sim)


def _target(p: argparse.ArgumentParser, argparse_default: Any) -> None:
    p.add_argument(
        "-c",
        "--config",
        metavar="FILE",
        default=argparse_default,
        help="simulator configuration (YAML)",
    )
    p.add_argument(
        "--control",
        metavar="PORT",
        default=argparse_default,
        help="control endpoint: the port to listen on (run), or PORT / HOST:PORT to call",
    )


def cmd_sim(args: argparse.Namespace) -> int:
    try:
        if args.sim_action is None:
            return _run(args)
        address = _address(args)
        if args.sim_action == "fault":
            body = {"device": args.device, "fault": args.fault, "clear": args.clear}
            answer = call(address, "POST", "/fault", body)
            faults = ", ".join(answer["faults"]) or "none"
            print(f"{answer['device']}: active faults: {faults}")
        elif args.sim_action == "status":
            _print_status(call(address, "GET", "/status"), args.format)
        elif args.sim_action == "advance":
            call(address, "POST", "/advance", {"seconds": args.seconds})
            print(f"advanced every device by {args.seconds:g} simulated seconds")
    except ControlError as exc:
        print(f"coldwatch sim: {exc}", file=sys.stderr)
        return EXIT_FAILED
    return EXIT_OK


def _address(args: argparse.Namespace) -> Address:
    if args.control:
        return parse_address(args.control)
    if args.config:
        return read_state(state_file_for(args.config))
    raise ControlError("say which simulator: -c FILE (its configuration) or --control PORT")


def _print_status(status: dict[str, Any], fmt: str) -> None:
    if fmt == "json":
        json.dump(status, sys.stdout, indent=1)
        print()
        return
    print(f"speed {status['speed']:g}x")
    for dev in status["devices"]:
        hours = dev["simulated_s"] / 3600
        print(f"{dev['id']} [{dev['kind']}] {dev['state']}; {hours:.2f} simulated h")
        print(f"    {dev['frontend']}")
        print(f"    faults: {', '.join(dev['faults']) or 'none'}")
        values = ", ".join(
            f"{k}={v:.2f}" if isinstance(v, float) else f"{k}={v}" for k, v in dev["values"].items()
        )
        print(f"    {values}")


def _run(args: argparse.Namespace) -> int:
    from monitor.core import logs
    from simulators.loader import load_sim_config

    if not args.config:
        print("coldwatch sim: -c FILE is required to run simulators", file=sys.stderr)
        return EXIT_CONFIG
    try:
        config = load_sim_config(args.config)
    except ConfigError as exc:
        for issue in exc.issues:
            print(issue, file=sys.stderr)
        return EXIT_CONFIG
    port = parse_address(args.control)[1] if args.control else config.control.port
    logs.configure("info", "text")
    path = Path(args.config).resolve()
    out = Path(args.coldwatch_config).resolve() if args.coldwatch_config else None
    return asyncio.run(_serve(args, config, port, path, out))


async def _serve(
    args: argparse.Namespace, config: Any, port: int, path: Path, out: Path | None
) -> int:
    from simulators.coldwatch_config import coldwatch_config, write_config
    from simulators.report import devices_text, fault_hints, speed_text
    from simulators.runner import serving, until_stopped
    from simulators.simulation import Simulation

    sim = Simulation(config, run_dir=path.parent, speed=args.speed)
    state = state_file_for(path)
    async with serving(sim, control_port=port, state_file=state, config=path) as control:
        lines = [
            f"coldwatch sim: {len(sim.devices)} devices at {speed_text(sim.speed)}",
            devices_text(sim),
            f"  control: http://{control.host}:{control.port} (address in {state})",
            "  inject a fault:",
            fault_hints(sim, Path(args.config), str(control.port)),
        ]
        if out is not None:
            store = str(out.with_suffix(".db"))
            data = coldwatch_config(sim, store_path=store, poll_interval=args.poll_interval)
            header = f"generated by `coldwatch sim -c {args.config}`: reads its simulators"
            write_config(data, out, header)
            lines.append(f"  coldwatch configuration: {out} (coldwatch run -c {out})")
        lines.append("  stop: Ctrl-C" if args.seconds is None else f"  stops in {args.seconds:g} s")
        print("\n".join(lines), flush=True)
        await until_stopped(args.seconds)
    return EXIT_OK
