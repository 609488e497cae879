"""What the web layer calls to sign people in and to know who a request comes from.

Every sign-in, failed sign-in, sign-out and session end is written to the sign-in log and
handed to the audit hook. A failed sign-in never says whether the user id or the password was
wrong. ``lockout.attempts`` failures in a row lock the user id for ``lockout.duration``; the
lock is recorded and published as an ``account_locked`` event (a system alarm). Database work
runs on one thread (one writer), password hashing in :class:`~monitor.identity.passwords.Hasher`'s
pool; all times come from the injected clock.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import secrets
import weakref
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any, TypeVar

from monitor.core.clock import Clock
from monitor.core.logs import RateLimiter
from monitor.core.model import Event, EventKind
from monitor.identity.model import (
    AuditEntry,
    AuditSink,
    Principal,
    SignInOutcome,
    SignInResult,
    UserVersion,
    Via,
)
from monitor.identity.passwords import Hasher, PasswordRejected, check_rules
from monitor.identity.records import IdentityRecords
from monitor.identity.roles import Role, within
from monitor.identity.settings import LockoutSettings, PasswordSettings, SessionSettings

log = logging.getLogger("monitor.identity")
T = TypeVar("T")

OnEvent = Callable[[Event], None]
MAX_USER_ID = 64


def token_hash(token: str) -> str:
    """What is stored of a session or API token: its SHA-256 (a token has 256 random bits,
    so a fast hash is enough)."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def password_expired(user: UserVersion, now: datetime, settings: PasswordSettings) -> bool:
    if user.password_set is None:
        return True
    limit = settings.one_time_expiry if user.password_one_time else settings.expiry
    return now >= user.password_set + timedelta(seconds=limit)


class IdentityService:
    def __init__(
        self,
        records: IdentityRecords,
        clock: Clock,
        *,
        hasher: Hasher | None = None,
        sessions: SessionSettings | None = None,
        lockout: LockoutSettings | None = None,
        passwords: PasswordSettings | None = None,
        on_audit: AuditSink | None = None,
        on_event: OnEvent | None = None,
    ) -> None:
        self.records = records
        self.clock = clock
        self.hasher = hasher or Hasher()
        self.sessions = sessions or SessionSettings()
        self.lockout = lockout or LockoutSettings()
        self.passwords = passwords or PasswordSettings()
        self.on_audit = on_audit
        self.on_event = on_event
        self._db = ThreadPoolExecutor(max_workers=1, thread_name_prefix="identity-db")
        self._token_log = RateLimiter(60.0, max_keys=1000)
        self._attempt_locks: weakref.WeakValueDictionary[str, asyncio.Lock] = (
            weakref.WeakValueDictionary()
        )

    def close(self) -> None:
        self._db.shutdown(wait=True)
        self.hasher.close()

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._db, fn, *args)

    def _audit(self, action: str, actor: str, source: str, **fields: Any) -> None:
        if self.on_audit is None:
            return
        try:
            self.on_audit(
                AuditEntry(
                    self.clock.now(), actor, action, fields.pop("target", None), source, **fields
                )
            )
        except Exception:  # the audit hook's failure must not end a sign-in silently
            log.exception("the audit hook failed on %s by %s", action, actor)
            raise

    # signing in and out

    def _attempts(self, user_id: str) -> asyncio.Lock:
        """One attempt at a time per user id: concurrent guesses cannot all be checked before
        the first failures are counted (the locks go when nobody holds them)."""
        lock = self._attempt_locks.get(user_id)
        if lock is None:
            lock = self._attempt_locks[user_id] = asyncio.Lock()
        return lock

    async def sign_in(self, user_id: str, password: str, *, source: str) -> SignInResult:
        """Check the credentials; with OK, a new session and its token."""
        user_id = user_id.strip()[:MAX_USER_ID]
        async with self._attempts(user_id):
            return await self._sign_in(user_id, password, source)

    async def _sign_in(self, user_id: str, password: str, source: str) -> SignInResult:
        now = self.clock.now()
        until = await self._run(self.records.locked_until, user_id)
        if until is not None and now < until:
            await self._run(self._record, now, user_id, "refused", source, None, "account locked")
            self._audit("sign_in_refused", user_id, source, reason="account locked")
            return SignInResult(SignInOutcome.LOCKED, locked_until=until)
        user = await self._run(self.records.user, user_id)
        matches = await self.hasher.verify(user.password_hash if user else None, password)
        if user is None or not matches or not user.enabled:
            return await self._failed(now, user_id, source, user)
        if user.password_one_time or password_expired(user, now, self.passwords):
            outcome = (
                SignInOutcome.MUST_CHANGE_PASSWORD
                if user.password_one_time and not password_expired(user, now, self.passwords)
                else SignInOutcome.EXPIRED
            )
            await self._run(self._record, now, user_id, "refused", source, None, outcome.value)
            self._audit("sign_in_refused", user_id, source, reason=outcome.value)
            return SignInResult(outcome)
        await self._sweep(now)
        token = secrets.token_urlsafe(32)
        session_id = secrets.token_hex(8)
        await self._run(
            self.records.open_session, session_id, token_hash(token), user_id, source, now
        )
        await self._run(self._record, now, user_id, "signed_in", source, session_id, None)
        self._audit("signed_in", user_id, source, target=session_id)
        principal = Principal(
            user_id, user.role, user.printed_name, Via.SESSION, session_id, user.can_sign
        )
        return SignInResult(SignInOutcome.OK, token, principal)

    def _record(
        self,
        at: datetime,
        user_id: str,
        action: str,
        source: str,
        session_id: str | None,
        detail: str | None,
        until: datetime | None = None,
    ) -> None:
        self.records.log_sign_in(
            at, user_id, action, source, session_id=session_id, until=until, detail=detail
        )

    async def _failed(
        self,
        now: datetime,
        user_id: str,
        source: str,
        user: UserVersion | None,
        signing: str | None = None,
    ) -> SignInResult:
        """Record a failed attempt (``signing``: why a signature's credentials failed) and
        lock the user id at the ``lockout.attempts``-th in a row."""
        detail = "unknown user" if user is None else "disabled" if not user.enabled else None
        if signing is not None:
            detail = f"signature: {signing}"
        await self._run(self._record, now, user_id, "failed", source, None, detail)
        action = "sign_in_failed" if signing is None else "signature_failed"
        self._audit(action, user_id, source, reason=detail or "wrong password")
        count = await self._run(self.records.failures_in_a_row, user_id)
        if count < self.lockout.attempts:
            return SignInResult(SignInOutcome.BAD_CREDENTIALS)
        until = now + timedelta(seconds=self.lockout.duration)
        await self._run(
            self._record, now, user_id, "locked", source, None, f"{count} failed", until
        )
        self._audit("account_locked", user_id, source, new={"until": until.isoformat()})
        log.warning("user id %r locked until %s after %d failed sign-ins", user_id, until, count)
        if self.on_event is not None:
            self.on_event(
                Event(
                    now,
                    EventKind.ACCOUNT_LOCKED,
                    "coldwatch",
                    f"user id {user_id!r} locked until {until.isoformat(timespec='seconds')} "
                    f"after {count} failed sign-ins or signatures from {source}",
                    {"user_id": user_id, "until": until.isoformat(), "source": source},
                )
            )
        return SignInResult(SignInOutcome.BAD_CREDENTIALS, locked_until=until)

    async def resolve_session(self, token: str) -> Principal | None:
        """Who holds the session of ``token``, its last-seen time moved on; None for no
        session, an ended one, or one past its idle or absolute timeout (then ended)."""
        now = self.clock.now()
        row = await self._run(self.records.session, token_hash(token))
        if row is None or row.ended is not None:
            return None
        user = await self._run(self.records.user, row.user_id)
        reason = None
        if user is None or not user.enabled:
            reason = "user_disabled"
        elif now - row.created >= timedelta(seconds=self.sessions.absolute_timeout):
            reason = "absolute_timeout"
        elif now - row.last_seen >= timedelta(seconds=self.sessions.idle_timeout):
            reason = "idle_timeout"
        if reason is not None:
            await self._end(row.id, row.user_id, now, reason, row.source)
            return None
        assert user is not None
        await self._run(self.records.touch_session, row.id, now)
        return Principal(
            user.user_id,
            user.role,
            user.printed_name,
            Via.SESSION,
            row.id,
            user.can_sign,
            row.signed_at,
        )

    async def _sweep(self, now: datetime) -> None:
        """End the sessions past the absolute timeout that nobody asked for again (a browser
        closed), and forget the ended ones older than that: the table stays bounded."""
        cutoff = now - timedelta(seconds=self.sessions.absolute_timeout)
        for row in await self._run(self.records.open_sessions_before, cutoff):
            await self._end(row.id, row.user_id, now, "absolute_timeout", row.source)
        await self._run(self.records.forget_sessions, cutoff)

    async def _end(self, session_id: str, user_id: str, now: datetime, why: str, src: str) -> None:
        if await self._run(self.records.end_session, session_id, now, why):
            action = "signed_out" if why == "sign_out" else "session_ended"
            await self._run(self._record, now, user_id, action, src, session_id, why)
            self._audit(action, user_id, src, target=session_id, reason=why)

    async def sign_out(self, token: str) -> bool:
        """End the session of ``token``; False if there was none open."""
        row = await self._run(self.records.session, token_hash(token))
        if row is None or row.ended is not None:
            return False
        await self._end(row.id, row.user_id, self.clock.now(), "sign_out", row.source)
        return True

    async def mark_signed(self, principal: Principal) -> None:
        """Record that ``principal`` signed with user id and password in its session: later
        signatures in the same continuous session need the password alone."""
        if principal.via is Via.SESSION:
            await self._run(self.records.mark_signed, principal.session_id, self.clock.now())

    async def verify_signer(
        self, user_id: str, claimed_user_id: str | None, password: str, *, source: str
    ) -> tuple[SignInResult, UserVersion | None]:
        """Check the credentials re-entered to sign, for the signed-in ``user_id``: a wrong
        password, or another user id typed (``claimed_user_id``), is a failed attempt that
        counts towards the lockout like a failed sign-in (11.300(d)); a locked account is
        refused. OK with the user's current version (its printed name is frozen into the
        signature), or why not (MUST_CHANGE_PASSWORD: a one-time password never signs)."""
        async with self._attempts(user_id):
            now = self.clock.now()
            until = await self._run(self.records.locked_until, user_id)
            if until is not None and now < until:
                detail = "signature: account locked"
                await self._run(self._record, now, user_id, "refused", source, None, detail)
                self._audit("signature_refused", user_id, source, reason="account locked")
                return SignInResult(SignInOutcome.LOCKED, locked_until=until), None
            user = await self._run(self.records.user, user_id)
            if claimed_user_id is not None and claimed_user_id.strip() != user_id:
                failed = await self._failed(now, user_id, source, user, "another user id given")
                return failed, None
            if not await self.hasher.verify(user.password_hash if user else None, password):
                return await self._failed(now, user_id, source, user, "wrong password"), None
            if user is None or not user.enabled:
                return await self._failed(now, user_id, source, user, "user disabled"), None
            if user.password_one_time or not user.can_sign:
                return SignInResult(SignInOutcome.MUST_CHANGE_PASSWORD), None
            if password_expired(user, now, self.passwords):
                return SignInResult(SignInOutcome.EXPIRED), None
            await self._run(self._record, now, user_id, "signature_verified", source, None, None)
            return SignInResult(SignInOutcome.OK), user

    async def change_password(
        self, user_id: str, current: str, new: str, *, source: str
    ) -> SignInResult:
        """The user changes their own password (a one-time or expired one too): the current
        password is checked like a sign-in (failures count towards the lockout). OK (without
        a session: sign in with the new password) or why not; a rule the new password breaks
        raises :class:`PasswordRejected`."""
        user_id = user_id.strip()[:MAX_USER_ID]
        async with self._attempts(user_id):
            return await self._change_password(user_id, current, new, source)

    async def _change_password(
        self, user_id: str, current: str, new: str, source: str
    ) -> SignInResult:
        now = self.clock.now()
        until = await self._run(self.records.locked_until, user_id)
        if until is not None and now < until:
            await self._run(self._record, now, user_id, "refused", source, None, "account locked")
            return SignInResult(SignInOutcome.LOCKED, locked_until=until)
        user = await self._run(self.records.user, user_id)
        if not await self.hasher.verify(user.password_hash if user else None, current):
            return await self._failed(now, user_id, source, user)
        if user is None or not user.enabled:
            return await self._failed(now, user_id, source, user)
        check_rules(new, user_id, self.passwords)
        previous = await self._run(self.records.password_hashes, user_id, self.passwords.history)
        if await self.hasher.reused(new, previous):
            raise PasswordRejected(
                f"a password may not be one of your last {self.passwords.history}"
            )
        encoded = await self.hasher.hash(new)
        changed = replace(
            user,
            at=now,
            version=user.version + 1,
            change="password_changed",
            password_hash=encoded,
            password_set=now,
            password_one_time=False,
            changed_by=user_id,
            changed_by_kind="user",
            os_user=None,
            verified_by=None,
            reason="changed by the user",
        )
        await self._run(self.records.append_user, changed)
        await self._run(self._record, now, user_id, "password_changed", source, None, None)
        self._audit("password_changed", user_id, source, target=user_id)
        return SignInResult(SignInOutcome.OK)

    async def resolve_api_token(self, token: str) -> Principal | None:
        """Who an API token acts for, never with a signature: its owner (enabled, and still
        holding at least the token's role: checked at every use, so a demoted or disabled
        owner's token stops), or, without an owner, a machine that only reads (viewer,
        whatever role a token made before owners existed was given)."""
        row = await self._run(lambda: self.records.token(token_hash=token_hash(token)))
        if row is None or row.action != "created" or self.clock.now() >= row.expires:
            return None
        if row.owner is None:
            return Principal(row.token_id, Role.VIEWER, row.name, Via.TOKEN, row.token_id, False)
        user = await self._run(self.records.user, row.owner)
        if user is None or not user.enabled or not within(row.role, user.role):
            may_log, held_back = self._token_log.allow(row.token_id)  # a retrying client
            if may_log:  # must not flood the journal: once a minute a token
                log.warning(
                    "API token %s (%s) refused: its owner %s is disabled or no longer %s "
                    "(%d more refusals of it not logged)",
                    row.token_id, row.name, row.owner, row.role.value, held_back,
                )  # fmt: skip
            return None
        return Principal(
            user.user_id, row.role, user.printed_name, Via.TOKEN, row.token_id, False,
            person_id=user.person_id,
        )  # fmt: skip

    async def user_of_person(self, person_id: str) -> str | None:
        """The user id linked to a ``people:`` entry (SMS, voice and CLI acknowledgements by
        that person are attributed to it), or None."""
        return await self._run(self.records.user_of_person, person_id)


__all__ = ["IdentityService", "PasswordRejected", "password_expired", "token_hash"]
