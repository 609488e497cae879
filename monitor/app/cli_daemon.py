"""``coldwatch stop|restart --reason TEXT``: stop or restart the running daemon on the record.

They go through the daemon's control socket, which the daemon serves when the configuration
has an ``alarms:`` section (and ``acknowledgement.control_socket`` is not turned off). The
daemon takes who you are from the socket's peer credentials (your OS user, mapped to a person by
``people[].os_users``) and records it with the reason; the next start's downtime record names
both, and a monitoring gap after such a clean stop pages only when it lasts longer than
``alarms.system.monitoring_gap.clean_gap_threshold`` (5 min) or cannot be measured
(:mod:`monitor.runtime.gap_measure`). A bare SIGTERM (``systemctl
stop``, ``kill``) still stops coldwatch cleanly, recorded with its sender unknown.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from monitor.app.cli_common import (
    EXIT_CONFIG,
    EXIT_FAILED,
    EXIT_OK,
    base_dir,
    load_or_exit,
    with_config,
)
from monitor.app.config import LoadedConfig
from monitor.core.secrets import secrets_deferred

SIGTERM_HINT = (
    "stop it with SIGTERM instead (systemctl stop coldwatch): the stop is recorded with its "
    "sender unknown"
)


def served_socket(loaded: LoadedConfig, config_path: str) -> Path | str:
    """The control socket the daemon serves for this configuration, or why it serves none."""
    from alarms.ack.config import AckConfig
    from monitor.store.factory import sqlite_path

    cfg = loaded.config
    if cfg.alarms is None:
        return "this configuration has no alarms: section, so the daemon serves no control socket"
    ack = cfg.acknowledgement or AckConfig()
    if not ack.control_socket.enabled:
        return "the control socket is turned off (acknowledgement.control_socket.enabled)"
    return ack.control_socket.resolved_path(sqlite_path(cfg.store, base_dir(config_path)))


def cmd_stop(args: argparse.Namespace) -> int:
    from alarms.ack import control_client as client
    from alarms.ack.stop_client import TIMED_OUT, ask_to_stop

    restart = args.command == "restart"
    with secrets_deferred():  # asking the daemon needs none of the paging secrets
        loaded = load_or_exit(args.config)
    path = served_socket(loaded, args.config)
    if isinstance(path, str):
        print(f"coldwatch: {path}; {SIGTERM_HINT}", file=sys.stderr)
        return EXIT_CONFIG
    reason = args.reason.strip()
    if not reason:
        print("coldwatch: --reason must say why", file=sys.stderr)
        return EXIT_CONFIG
    try:
        done = ask_to_stop(path, reason, restart=restart, timeout=args.timeout)
    except client.ControlError as exc:
        slow = exc.reason == TIMED_OUT  # accepted, not refused: it did not finish in time
        print(f"coldwatch: {exc.message}" if slow else client.render_error(exc), file=sys.stderr)
        return EXIT_FAILED
    who = f" as {done.person}" if done.person else ""
    pid = f" (pid {done.pid})" if done.pid else ""
    if restart:
        again = f" (pid {done.new_pid})" if done.new_pid else ""
        print(f"coldwatch restarted{again}; the stop{pid} is recorded{who}: {reason}")
    else:
        print(f"coldwatch stopped{pid}; recorded{who}: {reason}")
    return EXIT_OK


def add_parsers(sub: Any) -> None:
    """Add ``stop`` and ``restart`` to the ``coldwatch`` command's subparsers."""
    for name, summary, what in (
        (
            "stop",
            "stop the running daemon, recording who and why",
            "Stop the running daemon through its control socket and wait until it has "
            "stopped. Under systemd (coldwatch run --supervised) it stays stopped.",
        ),
        (
            "restart",
            "restart the running daemon (e.g. after a configuration change), recording who and why",
            "Restart the running daemon through its control socket and wait until it answers "
            "again. Under systemd (coldwatch run --supervised) the daemon exits and systemd's "
            "Restart= starts it; otherwise it runs itself again (same process id, the "
            "configuration read anew).",
        ),
    ):
        p = with_config(
            sub.add_parser(
                name,
                help=summary,
                description=what
                + " You act as the coldwatch person whose os_users list your operating-system "
                "account; the reason goes into the record. A monitoring gap after a clean stop "
                "pages only when longer than alarms.system.monitoring_gap.clean_gap_threshold "
                "(default 5 min) or when it cannot be measured (the machine rebooted meanwhile "
                "and its clock is not synchronised). Exit status: 0 done, 1 refused, not "
                "running or too slow, 2 usage or configuration error (e.g. no control socket).",
            )
        )
        p.add_argument("--reason", required=True, metavar="TEXT", help="why, for the record")
        p.add_argument(
            "--timeout",
            type=float,
            default=60.0,
            metavar="SECONDS",
            help="how long to wait for the daemon to stop (restart: to answer again)",
        )
        p.set_defaults(func=cmd_stop)
