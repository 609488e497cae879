"""What ``coldwatch --help`` and each command's help say about exit codes and secrets, and the
quiet end of a command whose reader went away (``coldwatch status | head``).

One rule for every command: 0 ok; 1 the check found a problem or the daemon refused; 2 usage
or configuration error. The texts live here, beside the rule, so a new command gets the rule
in its help without the parser code growing.
"""

from __future__ import annotations

import argparse
import os
import select
import signal
import sys

#: A command whose output pipe was closed ends as Unix tools killed by SIGPIPE report it.
EXIT_PIPE_CLOSED = 128 + signal.SIGPIPE

EXIT_CODES = f"""\
exit codes (every command):
  0    ok
  1    the check found a problem, or the daemon refused or cannot be reached
  2    usage or configuration error (each issue printed as file:line: path: message)
  {EXIT_PIPE_CLOSED}  the output pipe was closed early (e.g. `coldwatch status | head`)

secrets: only `run` and `check-config` (without --without-secrets or --explain) read the
*_env and *_file secrets of notifiers, people and devices, and refuse one they cannot read.
status, verify, readings, route-test, alarms, reload and audit read none: they run where the
paging secrets and PINs are not installed."""

#: Each command's own codes, shown under its ``--help``.
COMMAND_EXIT_CODES: dict[str, str] = {
    "run": "exit codes: 0 stopped by SIGTERM/SIGINT; 1 the daemon refused to start (its store "
    "is locked by another daemon or cannot be opened, or the web console's port is in use); "
    "2 usage or configuration error, including a secret that cannot be read (named with its "
    "file and line).",
    "check-config": "exit codes: 0 valid; 2 usage or configuration error (every issue printed), "
    "including a secret that cannot be read (unless --without-secrets or --explain), or an "
    "--explain unit that does not exist.",
    "verify": "exit codes: 0 every chain intact and the roll-up equal to the readings; 1 a "
    "chain is broken (the table and row named), the records cannot be read, or the roll-up "
    "(derived data) drifted from the readings (said apart: `coldwatch rollup rebuild`); 2 "
    "usage or configuration error. Reads no secret.",
    "rollup": "exit codes: 0 rebuilt; 1 the store cannot be written; 2 usage or configuration "
    "error. Reads no secret.",
    "readings": "exit codes: 0 rows printed (perhaps none); 1 the store cannot be read; 2 usage "
    "or configuration error (an unknown channel, a time that is not ISO 8601). Reads no secret.",
    "status": "exit codes: 0 status printed; 1 the store cannot be read; 2 usage or configuration "
    "error. Reads no secret.",
    "route-test": "exit codes: 0 route printed; 2 usage or configuration error (an unknown channel "
    "or condition). Sends nothing and reads no secret.",
    "alarms": "exit codes: 0 done (`list` on a configuration without an alarms: section says so "
    "and exits 0); 1 the daemon refused (the reason is named), is not running, or `history` "
    "found no such alarm; 2 usage or "
    "configuration error (no alarms: section for show/history/ack, the control socket off). "
    "Reads no secret.",
    "reload": "exit codes: 0 the daemon took the configuration (the version printed); 1 the "
    "daemon refused (errors in the file, or changes that need a restart: named) or is not "
    "running; 2 usage or configuration error (no control socket, an empty --reason). Reads "
    "no secret.",
    "audit": "exit codes: 0 entries printed (perhaps none); 1 the store cannot be read; 2 usage "
    "or configuration error (a time that is not ISO 8601). Reads no secret.",
    "user": "exit codes: 0 done; 1 refused (not an admin, a rule of users or passwords; the "
    "reason is named), or the store cannot be written; 2 usage or configuration error, or a "
    "password that cannot be read. Reads no secret.",
    "demo": "exit codes: 0 the demo ended; 1 it did not start (its store is in use: a demo "
    "runs in that --data-dir); 2 usage error, or --data-dir holds files the demo did not make "
    "(it empties its data directory at each start, unless --keep-data).",
}


def document_exit_codes(parser: argparse.ArgumentParser) -> None:
    """Put the exit-code rule under ``parser``'s help and each command's own codes under
    the command's (and its actions', for ``alarms``)."""
    parser.epilog = EXIT_CODES
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    for name, command in _subcommands(parser).items():
        text = COMMAND_EXIT_CODES.get(name)
        if text is None:
            continue
        for each in (command, *_subcommands(command).values()):
            each.epilog = text


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def run_printing(command: argparse.Namespace) -> int:
    """Run ``command.func``; a reader that closed the pipe (``| head``) ends it quietly with
    :data:`EXIT_PIPE_CLOSED`, not with a BrokenPipeError traceback."""
    try:
        result: int = command.func(command)
        sys.stdout.flush()  # a closed pipe shows here, not at exit where it cannot be caught
    except BrokenPipeError:
        if not _stdout_closed():
            raise  # a peer of the daemon, not our reader: that is no quiet end
        # Python flushes stdout again at exit: point it at /dev/null so that is quiet too.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
        return EXIT_PIPE_CLOSED
    return result


def _stdout_closed() -> bool:
    """Whether stdout is a pipe whose reading end is gone (poll reports an error on it)."""
    try:
        poller = select.poll()
        poller.register(sys.stdout.fileno(), select.POLLOUT)
        events = poller.poll(0)
    except (OSError, ValueError):
        return False
    return any(mask & select.POLLERR for _, mask in events)
