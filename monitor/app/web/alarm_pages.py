"""The alarm console's pages: the alarms not in normal (active, unacknowledged, shelved, out
of service) with value, limit, age and SOP text, and one alarm's whole history (raised, every
page sent, commands with their comments and e-signatures). State is always written out in
words beside its colour and icon. The signed commands are :mod:`monitor.app.web.alarm_commands`."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated, Any, Final
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, HTTPException, Path, Request
from fastapi.responses import HTMLResponse, Response

from alarms.model import AlarmCommandError, AlarmState, AlarmView
from alarms.notify.notification_log import LogRecord
from monitor.app.web.auth import require
from monitor.app.web.context import AlarmReader, WebContext, context_of
from monitor.core.esign import RECORD_ACTION, manifestation, signature_of
from monitor.identity.model import Principal, Via
from monitor.identity.roles import Permission, allows
from monitor.store.base import AlarmRecord

router = APIRouter(include_in_schema=False)
Viewer = Annotated[Principal, Depends(require(Permission.VIEW))]
Target = Annotated[str, Path(min_length=1, max_length=200)]

#: state -> (icon, words): never colour alone
STATE_WORDS: Final[dict[AlarmState, tuple[str, str]]] = {
    AlarmState.NORMAL: ("✓", "normal"),
    AlarmState.UNACK: ("⚠", "active, not acknowledged"),
    AlarmState.ACKED: ("●", "active, acknowledged"),
    AlarmState.RTN_UNACK: ("⚠", "back to normal, not acknowledged"),
    AlarmState.LATCHED_UNACK: ("⚠", "latched, not acknowledged"),
    AlarmState.LATCHED_ACKED: ("●", "latched, acknowledged (needs a reset)"),
    AlarmState.SHELVED: ("⏸", "shelved"),
    AlarmState.SUPPRESSED: ("⏸", "suppressed by another alarm"),
    AlarmState.OUT_OF_SERVICE: ("⛔", "out of service"),
}
#: The console's groups, in the order shown.
GROUPS: Final = ("Not acknowledged", "Active, acknowledged", "Shelved", "Out of service")
#: signed action -> (permission, button words, URL word)
ACTIONS: Final[dict[str, tuple[Permission, str, str]]] = {
    "acknowledge": (Permission.ACKNOWLEDGE, "Acknowledge", "acknowledge"),
    "shelve": (Permission.SHELVE, "Shelve", "shelve"),
    "out_of_service": (Permission.OUT_OF_SERVICE, "Take out of service", "out-of-service"),
    "return_to_service": (Permission.RETURN_TO_SERVICE, "Return to service", "return-to-service"),
    "reset": (Permission.RESET_LATCHED, "Reset", "reset"),
}
ACTION_OF_RECORD: Final = {record: action for action, record in RECORD_ACTION.items()}
PAGE_STATUS: Final = {
    "pending": "being sent",
    "sent": "sent",
    "failed": "failed",
    "exhausted": "every channel failed",
}


def group_of(view: AlarmView) -> str:
    if view.state is AlarmState.OUT_OF_SERVICE:
        return "Out of service"
    if view.state in (AlarmState.SHELVED, AlarmState.SUPPRESSED):
        return "Shelved"
    if view.needs_ack:
        return "Not acknowledged"
    return "Active, acknowledged"


def age(since: datetime | None, now: datetime) -> str:
    """``3 h 12 min``: how long ago ``since`` was."""
    if since is None:
        return "unknown"
    seconds = max(0, int((now - since).total_seconds()))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, seconds = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {minutes} min"
    if minutes:
        return f"{minutes} min {seconds} s"
    return f"{seconds} s"


def measured(value: float | str | None, unit: str) -> str:
    if value is None:
        return "no value"
    if isinstance(value, float):
        return f"{value:g} {unit}".strip()
    return f"{value} {unit}".strip()


@dataclass(frozen=True)
class Row:
    view: AlarmView
    icon: str
    words: str
    value: str
    limit: str
    age: str
    group: str


def row_of(view: AlarmView, now: datetime) -> Row:
    icon, words = STATE_WORDS.get(view.state, ("?", view.state.value))
    limit = "—" if view.limit is None else measured(view.limit, view.unit)
    since = view.activated_at or view.raised_at or view.since
    return Row(view, icon, words, measured(view.value, view.unit), limit, age(since, now),
               group_of(view))  # fmt: skip


@dataclass(frozen=True)
class Entry:
    """One line of an alarm's history: a record of the alarm, or a page sent."""

    at: datetime
    what: str
    who: str
    how: str
    comment: str
    signature: str | None


def record_entry(record: AlarmRecord, zone: ZoneInfo) -> Entry:
    signature = signature_of(record.data)
    return Entry(
        at=record.at,
        what=record.action.replace("_", " ") + (f" → {record.state}" if record.state else ""),
        who=record.person or "",
        how=record.via or "",
        comment=record.comment or "",
        signature=manifestation(signature, zone) if signature else None,
    )


def page_entry(page: LogRecord) -> Entry:
    status = PAGE_STATUS.get(page.status, page.status)
    extra = f": {page.error}" if page.error else ""
    return Entry(
        at=page.at,
        what=f"page {status}" + (f" (attempt {page.attempt})" if page.attempt > 1 else ""),
        who=page.person_id,
        how=page.channel,
        comment=extra.removeprefix(": "),
        signature=None,
    )


def zone_of(context: WebContext) -> ZoneInfo:
    return ZoneInfo(context.timezone)


def reader_of(context: WebContext) -> AlarmReader:
    if context.alarms is None:
        raise HTTPException(404, "this site has no alarms configured")
    return context.alarms


def allowed_actions(principal: Principal, view: AlarmView) -> list[tuple[str, str, str]]:
    """(action, words, URL word) the reader may sign on ``view`` now: by their role, and by
    the alarm's state (the engine still decides; this only leaves out what it would refuse).
    An API token never signs."""
    if principal.via is not Via.SESSION:
        return []
    out_of_service = view.state is AlarmState.OUT_OF_SERVICE
    fits = {
        "acknowledge": view.needs_ack,
        "shelve": not out_of_service and view.state is not AlarmState.SHELVED,
        "out_of_service": not out_of_service,
        "return_to_service": out_of_service,
        "reset": view.state is AlarmState.LATCHED_ACKED,
    }
    return [
        (action, words, word)
        for action, (permission, words, word) in ACTIONS.items()
        if fits[action] and allows(principal.role, permission)
    ]


@router.get("/alarms", response_class=HTMLResponse, name="alarms")
async def alarms(
    request: Request, context: Annotated[WebContext, Depends(context_of)], _: Viewer
) -> Response:
    now = context.clock.now()
    views = context.alarms.active() if context.alarms is not None else []
    rows = [row_of(view, now) for view in views]
    grouped = {group: [r for r in rows if r.group == group] for group in GROUPS}
    return request.app.state.templates.TemplateResponse(  # type: ignore[no-any-return]
        request,
        "alarms.html",
        {
            "title": "Alarms",
            "grouped": grouped,
            "configured": context.alarms is not None,
            "zone": context.timezone,
            "now": now,
        },
    )


async def alarm_page(
    request: Request,
    context: WebContext,
    principal: Principal,
    target: str,
    *,
    status: int = 200,
    dialog: dict[str, Any] | None = None,
) -> Response:
    """One alarm and its history; ``dialog``: a signing dialog to show open (its error)."""
    reader = reader_of(context)
    try:
        view = reader.get(target)
    except AlarmCommandError as exc:
        raise HTTPException(404, str(exc)) from None
    zone = zone_of(context)
    records = reader.history(target)  # a code: that occurrence; a key: all of them
    entries = [record_entry(r, zone) for r in records]
    codes = {r.code for r in records if r.code} | ({view.code} if view.code else set())
    if context.pages_sent is not None:
        log = context.pages_sent

        def sent() -> list[LogRecord]:
            return [page for code in sorted(codes) for page in log.for_alarm(code)]

        pages = await asyncio.to_thread(sent)
        entries += [page_entry(p) for p in pages]
    entries.sort(key=lambda e: e.at)
    signing = context.signing
    meanings = {a: signing.meanings(a) for a in ACTIONS} if signing else {}
    response = request.app.state.templates.TemplateResponse(
        request,
        "alarm.html",
        {
            "title": f"Alarm {view.code or view.key}",
            "row": row_of(view, context.clock.now()),
            "target": view.code or view.key,
            "entries": entries,
            "zone": context.timezone,
            "actions": allowed_actions(principal, view),
            "meanings": meanings,
            "first_signing": principal.signed_in_session is None,
            "dialog": dialog or {},
            "default_hours": 8,
        },
        status_code=status,
    )
    response.headers["Cache-Control"] = "no-store"
    return response  # type: ignore[no-any-return]


@router.get("/alarms/{target}", response_class=HTMLResponse, name="alarm")
async def alarm(
    request: Request,
    target: Target,
    context: Annotated[WebContext, Depends(context_of)],
    principal: Viewer,
) -> Response:
    return await alarm_page(request, context, principal, target)


def local(at: datetime, zone: str) -> str:
    """``2026-03-01 12:00:00 UTC (13:00:00 CET)`` for the history table."""
    local_at = at.astimezone(ZoneInfo(zone))
    utc = at.astimezone(ZoneInfo("UTC"))
    if zone == "UTC":
        return f"{utc:%Y-%m-%d %H:%M:%S} UTC"
    return f"{utc:%Y-%m-%d %H:%M:%S} UTC ({local_at:%H:%M:%S} {local_at.tzname()})"


HOURS_LIMIT: Final = timedelta(days=30)
