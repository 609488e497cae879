"""Electronic signatures (21 CFR Part 11): who may sign, with which credentials, and what a
signature says.

:meth:`SigningService.sign` checks, in this order: the signer comes from a web session (an API
token never signs) whose user may sign (a one-time password never does, 11.200(a)(3)); the
session is still open; the meaning is one of the action's closed list and a comment is given;
the credentials are re-entered: user id and password at the first signing of a continuous
session, the password alone at later ones in the same session (11.200(a)(1)(i)/(ii)); the user
id, when given, is the signer's own. A wrong password or another user id counts towards the
lockout like a failed sign-in (the lock raises ``account_locked``). The result is a
:class:`~monitor.core.esign.Signature` with the signer's printed name frozen, the server's time
and its NTP state; the caller commits it with the record it signs (for alarm commands:
:meth:`alarms.engine.AlarmEngine.signed`), then calls :meth:`SigningService.signed` so that
the session counts as continuous from then on.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Final

from monitor.core.esign import MAX_COMMENT, SIGNED_ACTIONS, Signature
from monitor.identity.model import Principal, SignInOutcome, Via
from monitor.identity.service import IdentityService
from monitor.identity.settings import SignatureSettings

#: Why a signature was refused (:attr:`SignatureRefused.reason`).
REASONS: Final = (
    "not_allowed",  # an API token, a user who may not sign (one-time password)
    "session_ended",  # signed out or timed out: sign in again
    "user_id_required",  # the first signing of the session needs the user id too
    "bad_credentials",  # wrong password or another user id (counted towards the lockout)
    "account_locked",
    "password_expired",
    "meaning",  # not one of the action's meanings
    "comment",  # missing or too long
    "action",  # not a signed action
)


class SignatureRefused(Exception):
    """The signature was not applied; ``reason`` is one of :data:`REASONS`."""

    def __init__(self, reason: str, message: str, locked_until: datetime | None = None) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.locked_until = locked_until


@dataclass(frozen=True, slots=True)
class SigningCredentials:
    """What the signer re-entered: the password, and the user id (required at the first
    signing of a continuous session, optional later)."""

    password: str = field(repr=False)
    user_id: str | None = None


@dataclass(frozen=True, slots=True)
class Signed:
    """A signature ready to be committed with its record, and the coldwatch person the record
    names (the user's linked ``people:`` entry, else the user id)."""

    signature: Signature
    person: str


class SigningService:
    def __init__(
        self,
        identity: IdentityService,
        settings: SignatureSettings | None = None,
        clock_synchronised: Callable[[], bool | None] | None = None,
    ) -> None:
        self.identity = identity
        self.settings = settings or SignatureSettings()
        self.clock_synchronised = clock_synchronised

    def meanings(self, action: str) -> tuple[str, ...]:
        """The closed list a signer of ``action`` chooses from."""
        return self.settings.of(action)

    async def sign(
        self,
        principal: Principal,
        session_token: str,
        credentials: SigningCredentials,
        meaning: str,
        comment: str,
        action: str,
        *,
        source: str,
    ) -> Signed:
        """Check everything (see the module docstring); the signature, or
        :class:`SignatureRefused`. ``session_token`` is the token of the request's session:
        it is resolved again, so a session that ended meanwhile cannot sign."""
        if principal.via is not Via.SESSION:
            raise SignatureRefused("not_allowed", "an API token cannot sign")
        if not principal.may_sign:
            raise SignatureRefused(
                "not_allowed", "this account cannot sign (a one-time password: change it first)"
            )
        if action not in SIGNED_ACTIONS:
            raise SignatureRefused("action", f"{action!r} is not signed")
        if meaning not in self.meanings(action):
            raise SignatureRefused("meaning", f"choose one of the meanings of {action}")
        comment = (comment or "").strip()
        if not comment:
            raise SignatureRefused("comment", "a signature needs a comment")
        if len(comment) > MAX_COMMENT:
            raise SignatureRefused("comment", f"a comment has at most {MAX_COMMENT} characters")
        session = await self.identity.resolve_session(session_token)
        if session is None or session.session_id != principal.session_id:
            raise SignatureRefused("session_ended", "the session has ended: sign in again")
        first = session.signed_in_session is None
        if first and not (credentials.user_id or "").strip():
            raise SignatureRefused(
                "user_id_required",
                "the first signature of a session needs your user id and password",
            )
        result, user = await self.identity.verify_signer(
            session.user_id, credentials.user_id, credentials.password, source=source
        )
        if result.outcome is SignInOutcome.LOCKED or result.locked_until is not None:
            raise SignatureRefused(
                "account_locked", "the account is locked", locked_until=result.locked_until
            )
        if result.outcome is SignInOutcome.BAD_CREDENTIALS:
            raise SignatureRefused("bad_credentials", "user id or password not accepted")
        if result.outcome is SignInOutcome.MUST_CHANGE_PASSWORD:
            raise SignatureRefused("not_allowed", "a one-time password cannot sign")
        if result.outcome is SignInOutcome.EXPIRED:
            raise SignatureRefused("password_expired", "the password has expired: change it")
        assert user is not None
        signature = Signature(
            user_id=user.user_id,
            printed_name=user.printed_name,
            meaning=meaning,
            comment=comment,
            action=action,
            signed_at=self.identity.clock.now(),
            credentials="user_id_and_password" if first else "password",
            session_id=session.session_id,
            clock_synchronised=self._clock_state(),
        )
        return Signed(signature, user.person_id or user.user_id)

    async def signed(self, principal: Principal) -> None:
        """The signature was committed with its record: later signatures in this continuous
        session need the password alone (11.200(a)(1)(ii))."""
        await self.identity.mark_signed(principal)

    def _clock_state(self) -> bool | None:
        return None if self.clock_synchronised is None else self.clock_synchronised()
