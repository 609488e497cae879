"""What ``coldwatch alarms list`` and ``coldwatch alarms ack ID --comment TEXT`` call: the
daemon's control socket, and the terminal rendering of its answers.

Blocking (the CLI has no event loop). The daemon identifies the caller from the socket's peer
credentials; nothing here says who the caller is.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Mapping
from datetime import datetime, tzinfo
from pathlib import Path
from typing import Any

from alarms.ack.wire import record_from_json
from alarms.model import AlarmView
from monitor.core.display import align_decimal, format_table, format_value
from monitor.core.esign import manifestation, signature_of
from monitor.store.base import AlarmRecord

TIMEOUT = 10.0
NO_DAEMON = "no_daemon"
PERMISSION = "permission"
PROTOCOL = "protocol"


class ControlError(Exception):
    """A refusal from the daemon (``reason`` as in :class:`~alarms.ack.refusals.Reason`) or
    no daemon to ask (``no_daemon``, ``permission``, ``protocol``)."""

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.message = message
        self.reason = reason


def request(
    socket_path: Path | str, payload: dict[str, Any], timeout: float = TIMEOUT
) -> dict[str, Any]:
    """Send one request, return the daemon's answer (``ok`` true); raise :class:`ControlError`."""
    with connect(socket_path, timeout) as sock:
        return exchange(sock, payload)


def connect(socket_path: Path | str, timeout: float = TIMEOUT) -> socket.socket:
    """A connection to the daemon (close it); raise :class:`ControlError`."""
    path = str(socket_path)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    try:
        sock.connect(path)
    except (FileNotFoundError, ConnectionRefusedError):
        sock.close()
        raise ControlError(
            f"the coldwatch daemon is not running (no control socket at {path})", NO_DAEMON
        ) from None
    except PermissionError:
        sock.close()
        raise ControlError(
            f"no permission to use {path} (are you in the group that owns it?)", PERMISSION
        ) from None
    except OSError as exc:
        sock.close()
        raise ControlError(f"cannot reach the daemon at {path}: {exc}", PROTOCOL) from None
    return sock


def exchange(sock: socket.socket, payload: dict[str, Any]) -> dict[str, Any]:
    """One request and its answer on ``sock`` (``ok`` true); raise :class:`ControlError`."""
    try:
        sock.sendall(json.dumps(payload).encode() + b"\n")
        line = _read_line(sock)
    except OSError as exc:
        raise ControlError(f"the daemon did not answer: {exc}", PROTOCOL) from None
    try:
        answer = json.loads(line)
    except json.JSONDecodeError:
        raise ControlError("the daemon sent an unreadable answer", PROTOCOL) from None
    if not isinstance(answer, dict):
        raise ControlError("the daemon sent an unreadable answer", PROTOCOL)
    if not answer.get("ok"):
        raise ControlError(str(answer.get("error", "refused")), str(answer.get("reason", "")))
    return answer


def list_alarms(socket_path: Path | str) -> list[AlarmView]:
    """Every alarm not NORMAL, those needing an acknowledgement first."""
    answer = request(socket_path, {"cmd": "list"})
    return [AlarmView.from_json(item) for item in answer.get("alarms", [])]


def get_alarm(socket_path: Path | str, alarm_id: str) -> AlarmView:
    return AlarmView.from_json(request(socket_path, {"cmd": "get", "id": alarm_id})["alarm"])


def history(socket_path: Path | str, alarm_id: str) -> list[AlarmRecord]:
    answer = request(socket_path, {"cmd": "history", "id": alarm_id})
    return [record_from_json(item) for item in answer.get("records", [])]


def ack(socket_path: Path | str, code: str, comment: str) -> AlarmView:
    """Acknowledge as the person your OS user is mapped to; the updated alarm."""
    answer = request(socket_path, {"cmd": "ack", "id": code, "comment": comment})
    return AlarmView.from_json(answer["alarm"])


# --- rendering ---------------------------------------------------------------------------------


def render_alarms(
    views: list[AlarmView],
    tz: tzinfo | None = None,
    decimals: Mapping[str, int] | None = None,
) -> str:
    """A table for the terminal; ``tz`` default: the local zone. Values are aligned on the
    decimal point, with the ``decimals`` of their channel (by channel id) where it has one."""
    if not views:
        return "No active alarms."
    places = decimals or {}
    numbers = align_decimal(
        ["-" if v.value is None else format_value(v.value, places.get(v.source)) for v in views]
    )
    rows = [("CODE", "STATE", "PRIORITY", "SINCE", "EQUIPMENT", "VALUE", "MESSAGE")]
    for v, number in zip(views, numbers, strict=True):
        unit = f" {v.unit}" if v.unit and isinstance(v.value, int | float) else ""
        rows.append(
            (
                v.code or "-",
                v.state.value,
                v.priority.value,
                _time(v.raised_at or v.since, tz),
                v.equipment_name or v.equipment or v.source_name or v.source,
                number + unit,
                v.message or v.condition_text,
            )
        )
    return "\n".join(format_table(rows))


def render_alarm(view: AlarmView, tz: tzinfo | None = None) -> str:
    lines = [
        f"{view.code or '-'}  {view.state.value}  {view.priority.value}  {view.key}",
        f"  {view.message or view.condition_text}",
        f"  value {_value(view)}, since {_time(view.raised_at or view.since, tz)}",
    ]
    if view.acked_by:
        lines.append(
            f"  acknowledged by {view.acked_by} at {_time(view.acked_at, tz)}"
            f" via {view.ack_via or '-'}: {view.ack_comment or ''}"
        )
    if view.contingency:
        lines.append(f"  SOP: {view.contingency}")
    return "\n".join(lines)


def render_ack(view: AlarmView, tz: tzinfo | None = None) -> str:
    return (
        f"{view.code or view.key} acknowledged by {view.acked_by} at {_time(view.acked_at, tz)}"
        f" (now {view.state.value}): {view.ack_comment or ''}"
    )


def render_history(records: list[AlarmRecord], tz: tzinfo | None = None) -> str:
    if not records:
        return "No history."
    lines = []
    for r in records:
        who = f" by {r.person}" if r.person else ""
        via = f" via {r.via}" if r.via else ""
        comment = f": {r.comment}" if r.comment else ""
        lines.append(f"{_time(r.at, tz)}  {r.action:<20} {r.state:<14}{who}{via}{comment}")
        signature = signature_of(r.data)
        if signature is not None:  # every display of a signed record shows it (11.50)
            lines.append(f"    {manifestation(signature, tz)}")
    return "\n".join(lines)


def render_signatures(records: list[AlarmRecord], tz: tzinfo | None = None) -> str:
    """The signed entries among ``records`` (an alarm's history), one line each with its
    manifestation; empty when none is signed."""
    lines = []
    for r in records:
        signature = signature_of(r.data)
        if signature is not None:
            lines.append(f"  {r.action} (e-signed): {manifestation(signature, tz)}")
            lines.append(f"    comment: {signature.comment}")
    return "\n".join(lines)


def render_error(error: ControlError) -> str:
    """One line for stderr: a refusal names its reason; an unreachable daemon does not."""
    if error.reason in (NO_DAEMON, PERMISSION, PROTOCOL):
        return f"coldwatch: {error.message}"
    return f"coldwatch: refused ({error.reason}): {error.message}"


def _time(at: datetime | None, tz: tzinfo | None) -> str:
    if at is None:
        return "-"
    local = at.astimezone(tz)
    return local.strftime("%Y-%m-%d %H:%M:%S %Z").strip()


def _value(view: AlarmView) -> str:
    if view.value is None:
        return "-"
    unit = f" {view.unit}" if view.unit and not isinstance(view.value, str) else ""
    return f"{format_value(view.value)}{unit}"


def _read_line(sock: socket.socket) -> bytes:
    chunks: list[bytes] = []
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            break
        chunks.append(chunk)
        if b"\n" in chunk:
            break
    data = b"".join(chunks)
    if b"\n" not in data:
        raise OSError("the connection closed before a full answer")
    return data.split(b"\n", 1)[0]
