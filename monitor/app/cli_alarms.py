"""The ``coldwatch`` sub-commands about alarms: ``alarms`` (list, show, history, ack: they talk
to the running daemon over its control socket) and ``route-test`` (who would be paged, from the
configuration alone).
"""

from __future__ import annotations

import argparse
import sys
from datetime import datetime
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


def _parse_local_time(text: str) -> datetime:
    """An ISO 8601 time; without a zone it stays naive (route-test takes it as site time)."""
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"'{text}' is not an ISO 8601 time (e.g. 2026-03-29T08:00)"
        ) from None


def _control_socket(loaded: LoadedConfig, config_path: str) -> Path:
    from alarms.ack.config import AckConfig
    from monitor.store.factory import sqlite_path

    ack = loaded.config.acknowledgement or AckConfig()
    store_file = sqlite_path(loaded.config.store, base_dir(config_path))
    return ack.control_socket.resolved_path(store_file)


def _no_alarms_to_ask(loaded: LoadedConfig, args: argparse.Namespace) -> tuple[str, int] | None:
    """What is true when the configuration itself says there is nothing to ask the daemon
    (no ``alarms:`` section, or its control socket is off), with the exit code; else None.
    Without this, the missing socket would read as "the daemon is not running"."""
    cfg = loaded.config
    if cfg.alarms is None:
        if args.action == "list":
            return (
                "this configuration has no alarms: section, so coldwatch raises no alarms: "
                "there are none to list (docs/alarms.md describes the section)",
                EXIT_OK,
            )
        return (
            f"coldwatch: this configuration has no alarms: section, so there is no alarm "
            f"{args.id} (coldwatch raises no alarms without one)",
            EXIT_CONFIG,
        )
    if cfg.acknowledgement is not None and not cfg.acknowledgement.control_socket.enabled:
        return (
            "coldwatch: the control socket is off in this configuration "
            "(acknowledgement.control_socket.enabled: false); the alarms commands talk to the "
            "daemon through it",
            EXIT_CONFIG,
        )
    return None


def cmd_alarms(args: argparse.Namespace) -> int:
    from zoneinfo import ZoneInfo

    from alarms.ack import control_client as client

    loaded = load_or_exit(args.config)
    unreachable = _no_alarms_to_ask(loaded, args)
    if unreachable is not None:
        text, code = unreachable
        print(text, file=sys.stdout if code == EXIT_OK else sys.stderr)
        return code
    path = _control_socket(loaded, args.config)
    zone = ZoneInfo(loaded.config.site.timezone)
    try:
        if args.action == "list":
            decimals = {
                cid: ch.decimals
                for cid, (_, ch) in loaded.config.channels().items()
                if ch.decimals is not None
            }
            print(client.render_alarms(client.list_alarms(path), zone, decimals))
        elif args.action == "show":
            print(client.render_alarm(client.get_alarm(path, args.id), zone))
            signed = client.render_signatures(client.history(path, args.id), zone)
            if signed:  # a signed record is never shown without its signature (11.50)
                print(signed)
        elif args.action == "history":
            records = client.history(path, args.id)
            if not records:  # as `show` refuses an unknown alarm: nothing found is not "ok"
                print(f"coldwatch: no alarm {args.id!r} has any history", file=sys.stderr)
                return EXIT_FAILED
            print(client.render_history(records, zone))
        else:
            print(client.render_ack(client.ack(path, args.id, args.comment), zone))
    except client.ControlError as exc:
        print(client.render_error(exc), file=sys.stderr)
        return EXIT_FAILED
    return EXIT_OK


def cmd_route_test(args: argparse.Namespace) -> int:
    from alarms.escalation.config import PagingConfig
    from alarms.escalation.route_preview import RouteTestError, render_route

    loaded = load_or_exit(args.config)
    try:
        with secrets_deferred():  # the paging sections are validated again: read no secret
            paging = PagingConfig.of(loaded.config)
        print(render_route(loaded.config, paging, args.channel, args.condition, args.at))
    except RouteTestError as exc:
        print(str(exc), file=sys.stderr)
        return EXIT_CONFIG
    return EXIT_OK


def add_parsers(sub: Any) -> None:
    """Add ``alarms`` and ``route-test`` to the ``coldwatch`` command's subparsers."""
    p = sub.add_parser(
        "alarms",
        help="list, show or acknowledge alarms (talks to the running daemon)",
        description="Talk to the running daemon over its local control socket. You act as the "
        "coldwatch person whose os_users list your operating-system account.",
    )
    alarm_sub = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    for name, text in (
        ("list", "alarms that are not NORMAL, those waiting for an ack first"),
        ("show", "one alarm"),
        ("history", "one alarm's history"),
    ):
        q = with_config(alarm_sub.add_parser(name, help=text, description=text))
        if name != "list":
            q.add_argument("id", metavar="ID", help="alarm code, e.g. A1007")
        q.set_defaults(func=cmd_alarms)
    q = with_config(
        alarm_sub.add_parser(
            "ack",
            help="acknowledge an alarm with a comment",
            description="Acknowledge an alarm. The comment is required and goes into the record.",
        )
    )
    q.add_argument("id", metavar="ID", help="alarm code, e.g. A1007")
    q.add_argument("--comment", required=True, help="what you did or found")
    q.set_defaults(func=cmd_alarms)

    p = with_config(
        sub.add_parser(
            "route-test",
            help="who would be paged for an alarm, without sending anything",
            description="Print who would be paged for an alarm of a channel, over which channel, "
            "at which minute, given the on-call schedules at --at (default now). Sends nothing.",
        )
    )
    p.add_argument("--channel", required=True, metavar="ID", help="e.g. freezer-07.cabinet_temp")
    p.add_argument("--condition", help="e.g. high, high_high, stale, comm_loss, door_open")
    p.add_argument(
        "--at",
        type=_parse_local_time,
        metavar="T",
        help="when the alarm starts (ISO 8601; without a zone: the site's time zone)",
    )
    p.set_defaults(func=cmd_route_test)
