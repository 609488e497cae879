"""The read-only alarm API: the active alarms, one alarm, and its recorded history, as the
control socket's ``list``, ``get`` and ``history`` answer them (``view``). Commands
(acknowledge, shelve ...) need an e-signature and are not here."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Path
from pydantic import BaseModel

from alarms.ack.wire import record_to_json
from alarms.model import AlarmCommandError
from monitor.app.web.auth import require
from monitor.app.web.context import AlarmReader, WebContext, context_of
from monitor.app.web.errors import ErrorBody
from monitor.identity.model import Principal
from monitor.identity.roles import Permission

router = APIRouter(prefix="/api/alarms", tags=["alarms"])

Target = Annotated[
    str,
    Path(
        min_length=1,
        max_length=200,
        description="an alarm code (A1007) or an alarm key (freezer-1.temp/high)",
    ),
]
Viewer = Annotated[Principal, Depends(require(Permission.VIEW))]
NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"model": ErrorBody}}


class Alarms(BaseModel):
    alarms: list[dict[str, Any]]
    """Every alarm not in normal, those waiting for an acknowledgement first."""


class AlarmAnswer(BaseModel):
    alarm: dict[str, Any]


class AlarmHistory(BaseModel):
    records: list[dict[str, Any]]
    """The alarm's records, oldest first: raised, paged, acknowledged, cleared ..."""


def engine_of(context: WebContext) -> AlarmReader:
    if context.alarms is None:
        raise HTTPException(404, "this site has no alarms configured")
    return context.alarms


@router.get("", response_model=Alarms, summary="The active alarms")
async def active(context: Annotated[WebContext, Depends(context_of)], _: Viewer) -> Alarms:
    if context.alarms is None:
        return Alarms(alarms=[])
    return Alarms(alarms=[view.to_json() for view in context.alarms.active()])


@router.get("/{target}", response_model=AlarmAnswer, responses=NOT_FOUND, summary="One alarm")
async def one(
    target: Target, context: Annotated[WebContext, Depends(context_of)], _: Viewer
) -> AlarmAnswer:
    try:
        return AlarmAnswer(alarm=engine_of(context).get(target).to_json())
    except AlarmCommandError as exc:
        raise HTTPException(404, str(exc)) from None


@router.get(
    "/{target}/history",
    response_model=AlarmHistory,
    responses=NOT_FOUND,
    summary="An alarm's recorded history",
)
async def history(
    target: Target, context: Annotated[WebContext, Depends(context_of)], _: Viewer
) -> AlarmHistory:
    engine = engine_of(context)
    try:
        engine.get(target)  # an unknown alarm is a 404, not an empty history
    except AlarmCommandError as exc:
        raise HTTPException(404, str(exc)) from None
    return AlarmHistory(records=[record_to_json(r) for r in engine.history(target)])
