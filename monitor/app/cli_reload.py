"""``coldwatch reload --reason TEXT``: the running daemon takes its configuration file anew, on
the record.

It goes through the daemon's control socket: the daemon takes who you are from the socket's
peer credentials (your OS user, mapped to a person by ``people[].os_users``), reads the file,
takes a change of the ``alarms:`` section (anything else needs ``coldwatch restart --reason``)
and appends a ``config.loaded`` entry to the audit trail with the diff, you and your reason.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from monitor.app.cli_common import EXIT_CONFIG, EXIT_FAILED, EXIT_OK, load_or_exit, with_config
from monitor.app.cli_daemon import served_socket
from monitor.core.secrets import secrets_deferred


def cmd_reload(args: argparse.Namespace) -> int:
    from alarms.ack import control_client as client

    with secrets_deferred():  # asking the daemon needs none of the paging secrets
        loaded = load_or_exit(args.config)
    path = served_socket(loaded, args.config)
    if isinstance(path, str):
        print(f"coldwatch: {path}; use coldwatch restart --reason instead", file=sys.stderr)
        return EXIT_CONFIG
    reason = args.reason.strip()
    if not reason:
        print("coldwatch: --reason must say why", file=sys.stderr)
        return EXIT_CONFIG
    try:
        answer = client.request(path, {"cmd": "reload", "reason": reason}, timeout=args.timeout)
    except client.ControlError as exc:
        print(client.render_error(exc), file=sys.stderr)
        return EXIT_FAILED
    done = answer.get("reloaded") or {}
    who = f" as {answer['person']}" if answer.get("person") else ""
    changes = int(done.get("changes", 0))
    what = "no change" if not changes else f"{changes} change{'s' if changes > 1 else ''}"
    paths = ", ".join(str(p) for p in done.get("paths", []))
    print(
        f"configuration version {done.get('version')} in force ({what}"
        f"{': ' + paths if paths else ''}); recorded{who}: {reason}"
    )
    return EXIT_OK


def add_parser(sub: Any) -> None:
    """Add ``reload`` to the ``coldwatch`` command's subparsers."""
    p = with_config(
        sub.add_parser(
            "reload",
            help="make the running daemon take its configuration anew, recording who and why",
            description="Ask the running daemon, through its control socket, to read its "
            "configuration again. Changes to the alarms: section (limits, delays, templates, "
            "system alarms) are taken at once, the alarms keeping their state; any other "
            "change needs `coldwatch restart --reason` and the reload is refused, nothing "
            "changed. You act as the coldwatch person whose os_users list your "
            "operating-system account; the reason and the diff go into the audit trail. A "
            "change loaded without a reason (SIGHUP, a restart by systemctl) raises the "
            "coldwatch/config_unattributed alarm.",
        )
    )
    p.add_argument("--reason", required=True, metavar="TEXT", help="why, for the record")
    p.add_argument(
        "--timeout",
        type=float,
        default=30.0,
        metavar="SECONDS",
        help="how long to wait for the daemon's answer",
    )
    p.set_defaults(func=cmd_reload)
