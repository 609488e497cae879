"""``POST /api/alarms/{target}/ack``: an API token acknowledges an alarm for its person.

This is the loopback alarm HTTP API of the acknowledgement paths, moved onto the console's
stack. An acknowledgement by a token is an *attributed* action, like an SMS reply or the
command line: recorded with its method (``via`` ``api``) and the person linked to the token's
owner, never an e-signature. So only a token that acts for a person acknowledges (``coldwatch
user token-add --for USER``); a machine's token (no owner) only reads, and a signed-in browser
acknowledges through the e-signature dialog (``POST /alarms/{target}/acknowledge``), never
here. The same :class:`~alarms.ack.acknowledger.Acknowledger` as every other path decides and
records each refusal; its reason word is the answer's ``reason``.
"""

from __future__ import annotations

from typing import Annotated, Any, Final

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from alarms.ack.refusals import Reason
from monitor.app.web.alarms_api import AlarmAnswer, Target
from monitor.app.web.auth import require
from monitor.app.web.context import WebContext, context_of
from monitor.app.web.errors import ErrorBody
from monitor.core.esign import MAX_COMMENT
from monitor.identity.model import Principal, Via
from monitor.identity.roles import Permission

router = APIRouter(prefix="/api/alarms", tags=["alarms"])

VIA: Final = "api"
#: The acknowledger's refusal -> the answer's status (anything else: 403).
STATUS: Final = {
    Reason.NO_COMMENT: 400,
    Reason.UNKNOWN_PERSON: 403,
    Reason.UNKNOWN_ALARM: 404,
    Reason.NOT_ACKNOWLEDGEABLE: 409,
    Reason.STORE_ERROR: 503,
    Reason.UNAVAILABLE: 503,
}
ANSWERS: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorBody} for status in (400, 404, 409, 429, 503)
}


class AckBody(BaseModel):
    """What the caller says; who acts comes from the token, never from the body."""

    model_config = ConfigDict(extra="forbid")
    comment: str = Field(default="", max_length=MAX_COMMENT)
    """Required (not blank): why, for the alarm's history."""


Technician = Annotated[Principal, Depends(require(Permission.ACKNOWLEDGE))]


@router.post(
    "/{target}/ack",
    response_model=AlarmAnswer,
    responses=ANSWERS,
    summary="Acknowledge an alarm with an API token that acts for a person",
)
async def acknowledge(
    target: Target,
    body: AckBody,
    request: Request,
    context: Annotated[WebContext, Depends(context_of)],
    principal: Technician,
) -> Any:
    if principal.via is not Via.TOKEN:
        raise HTTPException(
            403,
            "a signed-in person acknowledges with an e-signature, on the alarm's page; this "
            "route is for API tokens",
        )
    acknowledger = context.acknowledger
    if acknowledger is None:
        raise HTTPException(404, "this site has no alarms configured")
    address = request.client.host if request.client else "unknown"
    if principal.person_id is None:
        detail = (
            f"user {principal.user_id} is linked to no person (people:): an acknowledgement "
            "is attributed to a person"
        )
        acknowledger.refuse(VIA, address, Reason.UNKNOWN_PERSON, detail, target=target)
        return JSONResponse({"error": detail, "reason": Reason.UNKNOWN_PERSON.value}, 403)
    outcome = acknowledger.acknowledge_as(
        principal.person_id, target, body.comment, VIA, f"{address} token {principal.session_id}"
    )
    if not outcome.ok or outcome.alarm is None:
        reason = outcome.reason or Reason.UNAVAILABLE
        status = STATUS.get(reason, 403)
        return JSONResponse({"error": outcome.message, "reason": reason.value}, status)
    return AlarmAnswer(alarm=outcome.alarm.to_json())
