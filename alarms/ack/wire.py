"""JSON shapes shared by the control socket, its client and the HTTP API."""

from __future__ import annotations

from dataclasses import fields
from datetime import datetime
from typing import Any

from monitor.store.base import AlarmRecord

_RECORD_TIMES = frozenset({"recorded_at", "at"})


def record_to_json(record: AlarmRecord) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for f in fields(AlarmRecord):
        value = getattr(record, f.name)
        out[f.name] = value.isoformat() if isinstance(value, datetime) else value
    return out


def record_from_json(data: dict[str, Any]) -> AlarmRecord:
    kwargs: dict[str, Any] = {}
    for f in fields(AlarmRecord):
        if f.name in data:
            value = data[f.name]
            if f.name in _RECORD_TIMES and value is not None:
                value = datetime.fromisoformat(value)
            kwargs[f.name] = value
    return AlarmRecord(**kwargs)


def error_json(message: str, reason: str) -> dict[str, Any]:
    return {"ok": False, "error": message, "reason": reason}
