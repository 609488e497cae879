"""The audit trail page for QA (``/audit``) and its CSV export (``/audit.csv``).

The filter is :class:`monitor.app.audit_trail.AuditFilter`, the one ``coldwatch audit`` uses,
and the export is its CSV writer, so the page, the export and the command agree on what a
filter selects and on every byte of the CSV. The form's times are the site's wall-clock times
(``<input type="datetime-local">``), turned into UTC here; a time the clocks skipped is refused,
and one they passed twice widens the range (the earlier for 'from', the later for 'until').
The page lists the newest first, a bounded page at a time; its next page starts below the last
entry shown (by ``seq``), so entries added meanwhile do not shift it. A signed command's entry
shows its signature as every display of a signed record must (21 CFR 11.50), from the
signature row bound to the record.
"""

from __future__ import annotations

import asyncio
import io
import re
from datetime import UTC, datetime, tzinfo
from typing import Annotated, Any, Final
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, Response

from monitor.app.audit_trail import (
    DEFAULT_LIMIT,
    MAX_FILTER_TEXT,
    AuditFilter,
    FilterError,
    blank_is_none,
    changes_of,
    to_json,
    unattributed,
    who_of,
    write_csv,
)
from monitor.app.web.auth import require
from monitor.app.web.context import AuditReader, WebContext, context_of
from monitor.core.esign import manifestation
from monitor.identity.model import Principal
from monitor.identity.roles import Permission
from monitor.store.base import AuditEntry, StoreError
from monitor.store.sqlite_signatures import ALARM_HISTORY

router = APIRouter(include_in_schema=False)

Auditor = Annotated[Principal, Depends(require(Permission.AUDIT_TRAIL))]
TimeText = Annotated[str, Query(max_length=40)]
FilterText = Annotated[str, Query(max_length=MAX_FILTER_TEXT)]
DEFAULT_PAGE: Final = 50
MAX_PAGE: Final = 200
#: Offered in the action field (any action, or a prefix ending in ``.``, may be typed).
ACTION_HINTS: Final = (
    "alarm.", "alarm.acknowledged", "alarm.shelved", "alarm.out_of_service", "alarm.reset",
    "config.", "config.loaded", "daemon.", "session.", "session.signed_in",
    "session.sign_in_failed", "session.account_locked", "user.", "api_token.",
)  # fmt: skip
_FILE_SAFE: Final = re.compile(r"[^A-Za-z0-9._-]+")


def site_time(text: str, zone: tzinfo, name: str, *, end: bool) -> datetime:
    """A time from the form (the site's wall clock, or with an explicit zone), in UTC."""
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise FilterError(
            f"{name}: {text!r} is not a date and time (e.g. 2026-03-01T14:30)"
        ) from None
    try:
        if value.tzinfo is not None:
            return value.astimezone(UTC)
        earlier = value.replace(tzinfo=zone, fold=0)
        if earlier.astimezone(UTC).astimezone(zone).replace(tzinfo=None) != value:
            raise FilterError(
                f"{name}: {text} does not exist in {zone} (the clocks went forward then)"
            )
        chosen = value.replace(tzinfo=zone, fold=1) if end else earlier
        return chosen.astimezone(UTC)
    except OverflowError:
        raise FilterError(f"{name}: {text} is out of range") from None


def filter_of(
    context: WebContext, since: str, until: str, person: str, equipment: str, action: str
) -> AuditFilter:
    zone = ZoneInfo(context.timezone)
    since_text, until_text = blank_is_none(since), blank_is_none(until)
    return AuditFilter(
        since=None if since_text is None else site_time(since_text, zone, "from", end=False),
        until=None if until_text is None else site_time(until_text, zone, "until", end=True),
        person=blank_is_none(person),
        equipment=blank_is_none(equipment),
        action=blank_is_none(action),
    )


def reader_of(context: WebContext) -> AuditReader:
    if context.audit is None:
        raise HTTPException(503, "the audit trail is not available: the daemon has no store")
    return context.audit


def both_zones(at: datetime, zone: tzinfo) -> tuple[str, str]:
    utc = at.astimezone(UTC)
    local = utc.astimezone(zone)
    return (
        f"{utc:%Y-%m-%d %H:%M:%S} UTC",
        f"{local:%Y-%m-%d %H:%M:%S} {local.tzname() or local.strftime('%z')}",
    )


def signature_text(reader: AuditReader, entry: AuditEntry, zone: tzinfo) -> str | None:
    """The manifestation of the signature of a signed command's entry; a line saying it is
    missing when the entry says signed but no signature row names its record."""
    detail = entry.detail or {}
    if not isinstance(detail.get("signature"), dict):
        return None
    record_seq = detail.get("alarm_history_seq")
    found = (
        reader.signatures(ALARM_HISTORY, record_seq)
        if isinstance(record_seq, int) and not isinstance(record_seq, bool)
        else []
    )
    if not found:
        return "✗ signed, but no signature row names this record: run coldwatch verify"
    return manifestation(found[-1].signature, zone)


def view_of(reader: AuditReader, entry: AuditEntry, zone: tzinfo) -> dict[str, Any]:
    """What the page shows of one entry."""
    at_utc, at_local = both_zones(entry.at, zone)
    detail = {k: v for k, v in (entry.detail or {}).items() if k != "changes"}
    return {
        "entry": entry,
        "who": who_of(entry),
        "at_utc": at_utc,
        "at_local": at_local,
        "at_iso": entry.at.astimezone(UTC).isoformat(),
        "old": to_json(entry.old),
        "new": to_json(entry.new),
        "changes": [
            {
                "path": str(c.get("path", "")),
                "old": to_json(c.get("old")),
                "new": to_json(c.get("new")),
            }
            for c in changes_of(entry)
        ],
        "changes_total": (entry.detail or {}).get("changes_total"),
        "unattributed": unattributed(entry),
        "signature": signature_text(reader, entry, zone),
        "detail": to_json(detail) if detail else "",
    }


def _page(request: Request, status: int = 200, **values: Any) -> Response:
    response = request.app.state.templates.TemplateResponse(
        request,
        "audit.html",
        {"title": "Audit trail", "action_hints": ACTION_HINTS, **values},
        status_code=status,
    )
    response.headers["Cache-Control"] = "no-store"
    return response  # type: ignore[no-any-return]


@router.get("/audit", response_class=HTMLResponse, name="audit")
async def audit_page(
    request: Request,
    context: Annotated[WebContext, Depends(context_of)],
    _: Auditor,
    since: TimeText = "",
    until: TimeText = "",
    person: FilterText = "",
    equipment: FilterText = "",
    action: FilterText = "",
    size: Annotated[int, Query(ge=1, le=MAX_PAGE)] = DEFAULT_PAGE,
    before: Annotated[int | None, Query(ge=1)] = None,
) -> Response:
    reader = reader_of(context)
    zone = ZoneInfo(context.timezone)
    form = {
        "since": since,
        "until": until,
        "person": person,
        "equipment": equipment,
        "action": action,
    }
    values: dict[str, Any] = {"form": form, "size": size, "zone": context.timezone}
    try:
        wanted = filter_of(context, since, until, person, equipment, action)
    except FilterError as exc:
        return _page(request, 422, error=str(exc), entries=[], **values)

    def read() -> tuple[list[dict[str, Any]], bool]:
        found = reader.audit_entries(wanted.query(size + 1, newest_first=True, before_seq=before))
        return [view_of(reader, e, zone) for e in found[:size]], len(found) > size

    try:
        entries, more = await asyncio.to_thread(read)
    except StoreError as exc:
        raise HTTPException(503, f"the audit trail could not be read: {exc}") from None
    kept = {k: v for k, v in form.items() if v}
    if size != DEFAULT_PAGE:
        kept["size"] = str(size)
    older = (
        "/audit?" + urlencode({**kept, "before": entries[-1]["entry"].seq})
        if more and entries
        else None
    )
    newest = ("/audit?" + urlencode(kept)) if before is not None else None
    chosen = {k: v for k, v in form.items() if v}
    csv_link = "/audit.csv" + ("?" + urlencode(chosen) if chosen else "")
    return _page(
        request,
        entries=entries,
        older=older,
        newest=newest,
        csv_link=csv_link,
        since_utc=wanted.since and wanted.since.isoformat(),
        until_utc=wanted.until and wanted.until.isoformat(),
        **values,
    )


@router.get("/audit.csv", name="audit_csv")
async def audit_csv(
    context: Annotated[WebContext, Depends(context_of)],
    _: Auditor,
    since: TimeText = "",
    until: TimeText = "",
    person: FilterText = "",
    equipment: FilterText = "",
    action: FilterText = "",
) -> Response:
    """The filtered entries, oldest first, as ``coldwatch audit --csv`` writes them."""
    reader = reader_of(context)
    try:
        wanted = filter_of(context, since, until, person, equipment, action)
    except FilterError as exc:
        raise HTTPException(422, str(exc)) from None
    try:
        found = await asyncio.to_thread(reader.audit_entries, wanted.query(DEFAULT_LIMIT + 1))
    except StoreError as exc:
        raise HTTPException(503, f"the audit trail could not be read: {exc}") from None
    if len(found) > DEFAULT_LIMIT:
        raise HTTPException(
            422,
            f"more than {DEFAULT_LIMIT} entries match: narrow the time range (or use "
            "coldwatch audit --csv --limit N on the server)",
        )
    out = io.StringIO()
    write_csv(out, found)
    stamp = context.clock.now().astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    name = f"coldwatch-audit-{_FILE_SAFE.sub('_', context.site_id)}-{stamp}.csv"
    return Response(
        out.getvalue().encode("utf-8"),
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="{name}"',
            "Cache-Control": "no-store",
        },
    )
