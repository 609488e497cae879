"""The equipment page (``/equipment/{id}``) and its chart data
(``/api/equipment/{id}/chart``): every channel of one unit over 1 h .. 30 d, the limits in
force at each moment, alarm periods; beside the chart its sensors, configuration version,
recent alarms and the SOP texts of its rules. The chart is drawn in the browser by uPlot
(``static/vendor/uplot``) driven by ``static/js/equipment_chart.js``."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Final

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request
from fastapi.responses import HTMLResponse, Response
from fastapi.templating import Jinja2Templates

from monitor.app.web.auth import require
from monitor.app.web.chart_data import (
    MAX_RAW,
    MAX_SPAN,
    RANGES,
    RangeName,
    bucket_minutes,
    raw_series,
    rollup_series,
)
from monitor.app.web.context import WebContext, context_of
from monitor.app.web.errors import ErrorBody
from monitor.app.web.unit_history import (
    AlarmPeriod,
    HistoryReader,
    RuleBook,
    Unit,
    alarm_periods,
    in_force,
    limit_lines,
    unit_of,
    unit_rules,
)
from monitor.identity.model import Principal
from monitor.identity.roles import Permission
from monitor.store.base import ConfigVersion

router = APIRouter(tags=["equipment"])
Viewer = Annotated[Principal, Depends(require(Permission.VIEW))]
EquipmentId = Annotated[str, Path(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_.-]+$")]
RECENT_ALARMS: Final = timedelta(days=30)
RULES: Final = RuleBook()


def reader_of(context: WebContext) -> HistoryReader:
    if context.history is None:
        raise HTTPException(503, "this console has no store to read the history from")
    return context.history


@dataclass(frozen=True)
class Found:
    unit: Unit
    versions: list[ConfigVersion]
    current: ConfigVersion


def find_unit(reader: HistoryReader, equipment_id: str) -> Found:
    versions = reader.config_versions()
    if not versions:
        raise HTTPException(404, "no configuration has been stored yet")
    current = max(versions, key=lambda v: (v.loaded_at, v.id))
    unit = unit_of(current.effective, equipment_id)
    if unit is None:
        raise HTTPException(404, f"no equipment {equipment_id!r} in the configuration in force")
    return Found(unit, versions, current)


def time_range(
    now: datetime, range_: RangeName | None, span: int | None, end: datetime | None
) -> tuple[datetime, datetime]:
    """The ``span`` seconds (else the ``range``, else 24 h) up to ``end`` (else now; a time
    without a zone is UTC). Every combination is valid: a client pans by moving ``end`` and
    zooms by choosing ``span``."""
    last = now if end is None else (end.replace(tzinfo=UTC) if end.tzinfo is None else end)
    length = timedelta(seconds=span) if span is not None else RANGES[range_ or "24h"]
    if last - datetime.min.replace(tzinfo=UTC) <= length:  # before year 1: nothing to draw
        raise HTTPException(422, "the chart's window starts before the year 1: choose a later end")
    return last - length, last


def chart(reader: HistoryReader, found: Found, start: datetime, end: datetime) -> dict[str, Any]:
    """The chart data (runs in a worker thread: it reads the store)."""
    minutes = bucket_minutes(end - start)
    channels = []
    for channel in found.unit.channels:
        series = None
        if minutes is None:
            readings = reader.readings(channel.id, start, end, limit=MAX_RAW + 1)
            if len(readings) <= MAX_RAW:
                series = raw_series(readings, channel.interval)
            else:  # too many to draw one by one: the roll-up at its finest
                minutes = 1
        if series is None:
            buckets = reader.rollup(channel.id, start, end, bucket_minutes=minutes or 1)
            series = rollup_series(buckets, minutes or 1, channel.interval)
        channels.append(
            {
                "id": channel.id,
                "name": channel.name,
                "unit": channel.unit,
                "decimals": channel.decimals,
                "points": series.as_json(),
            }
        )
    versions = in_force(found.versions, start, end)
    limits = limit_lines(RULES, versions, found.unit, start, end)
    keys = [r.key for v in versions for r in unit_rules(RULES, v, found.unit.id)]
    return {
        "equipment": {"id": found.unit.id, "name": found.unit.name},
        "from": start.isoformat(),
        "to": end.isoformat(),
        "resolution": "raw" if minutes is None else f"{minutes} min",
        "bucket_seconds": None if minutes is None else minutes * 60,
        "channels": channels,
        "limits": [
            {
                "rule": line.rule,
                "level": line.level,
                "priority": line.priority,
                "channel": line.channel,
                "steps": [[at.timestamp(), value] for at, value in line.steps],
            }
            for line in limits
        ],
        "alarms": [_period_json(p) for p in alarm_periods(reader, keys, start, end)],
        "config_versions": [
            {"id": v.id, "sha256": v.sha256, "loaded_at": v.loaded_at.timestamp()} for v in versions
        ],
    }


def _period_json(period: AlarmPeriod) -> dict[str, Any]:
    return {
        "key": period.key,
        "code": period.code,
        "channel": period.channel,
        "priority": period.priority,
        "from": period.start.timestamp(),
        "to": None if period.end is None else period.end.timestamp(),
        "condition": period.condition,
    }


@router.get(
    "/api/equipment/{equipment_id}/chart",
    summary="Chart data of one unit: every channel, limits in force, alarm periods",
    responses={
        404: {"model": ErrorBody, "description": "no such unit in the configuration in force"},
        503: {"model": ErrorBody, "description": "this console reads no store"},
    },
)
async def chart_data(
    equipment_id: EquipmentId,
    context: Annotated[WebContext, Depends(context_of)],
    _: Viewer,
    range_: Annotated[
        RangeName | None, Query(alias="range", description="the last 1h, 24h (default), 7d, 30d")
    ] = None,
    span: Annotated[
        int | None,
        Query(
            ge=60,
            le=int(MAX_SPAN.total_seconds()),
            description="seconds shown, instead of a range (a zoom)",
        ),
    ] = None,
    end: Annotated[
        datetime | None, Query(description="the end of the time shown (default: now)")
    ] = None,
) -> dict[str, Any]:
    """Points are ``t`` (seconds since the epoch, UTC), ``v`` (the value, or a bucket's
    mean), ``min`` and ``max``; ``null`` is a gap (no reading, or bad quality), never
    interpolated. ``resolution`` says whether they are raw readings or roll-up buckets."""
    reader = reader_of(context)
    first, last = time_range(context.clock.now(), range_, span, end)

    def read() -> dict[str, Any]:
        return chart(reader, find_unit(reader, equipment_id), first, last)

    return await asyncio.to_thread(read)


@dataclass(frozen=True)
class RuleText:
    key: str
    name: str
    priority: str
    contingency: str


def page_facts(reader: HistoryReader, equipment_id: str, now: datetime) -> dict[str, Any]:
    found = find_unit(reader, equipment_id)
    rules = unit_rules(RULES, found.current, equipment_id)
    recent = alarm_periods(reader, [r.key for r in rules], now - RECENT_ALARMS, now)
    return {
        "unit": found.unit,
        "config_version": found.current,
        "rules": [RuleText(r.key, r.name, r.priority.value, r.contingency) for r in rules],
        "recent": sorted(recent, key=lambda p: p.start, reverse=True)[:20],
    }


@router.get(
    "/equipment/{equipment_id}",
    response_class=HTMLResponse,
    include_in_schema=False,
    name="equipment",
)
async def equipment_page(
    equipment_id: EquipmentId,
    request: Request,
    context: Annotated[WebContext, Depends(context_of)],
    _: Viewer,
    range_: Annotated[RangeName, Query(alias="range")] = "24h",
) -> Response:
    """``?range=1h`` opens the chart on that range (a link to the last hour)."""
    reader = reader_of(context)
    now = context.clock.now()
    facts = await asyncio.to_thread(page_facts, reader, equipment_id, now)
    templates: Jinja2Templates = request.app.state.templates
    return templates.TemplateResponse(
        request,
        "equipment.html",
        {
            "title": facts["unit"].name,
            "ranges": list(RANGES),
            "range": range_,
            "timezone": context.timezone,
            **facts,
        },
    )
