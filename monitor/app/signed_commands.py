"""Alarm commands with an electronic signature: the join of the signing service
(:mod:`monitor.identity.signing`) and the alarm engine, for the web console.

The signature is checked first (credentials, meaning, comment); the engine then runs the
command with it, so the history row, its audit entry and the signature commit in one
transaction (or the command is refused and undone); only then does the session count as
continuous for later signatures. A refusal of the signature raises
:class:`~monitor.identity.signing.SignatureRefused`; a refusal of the command, the engine's
errors (``AlarmCommandError``, ``StoreError``).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Protocol

from alarms.model import AlarmView
from monitor.core.esign import Signature
from monitor.identity.model import Principal
from monitor.identity.signing import SigningCredentials, SigningService


class SignedCommands(Protocol):
    """What runs a signed command: :class:`alarms.engine.AlarmEngine` is one."""

    def signed(
        self,
        target: str,
        person: str,
        signature: Signature,
        *,
        until: datetime | timedelta | None = None,
        via: str = "web",
    ) -> list[AlarmView]: ...


async def signed_alarm_command(
    signing: SigningService,
    engine: SignedCommands,
    principal: Principal,
    session_token: str,
    credentials: SigningCredentials,
    *,
    action: str,
    target: str,
    meaning: str,
    comment: str,
    source: str,
    until: datetime | timedelta | None = None,
    via: str = "web",
) -> list[AlarmView]:
    """Sign and run ``action`` (acknowledge, shelve, out_of_service, return_to_service,
    reset) on ``target``; the alarms after it."""
    signed = await signing.sign(
        principal, session_token, credentials, meaning, comment, action, source=source
    )
    views = engine.signed(target, signed.person, signed.signature, until=until, via=via)
    await signing.signed(principal)
    return views
