"""Signing in, sessions and their timeouts, lockout, password expiry and one-time passwords,
as timelines on the fake clock against a real SQLite store."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from pathlib import Path

import pytest

from monitor.core.clock import FakeClock
from monitor.core.model import EventKind
from monitor.identity.admin import AdminRefused
from monitor.identity.model import Actor, SignInOutcome, Via
from monitor.identity.passwords import PasswordRejected
from monitor.identity.roles import Role
from monitor.identity.service import token_hash
from monitor.identity.settings import LockoutSettings, SessionSettings
from monitor.store.side_chain_verify import verify_file
from tests.support.identity import ADMIN_PASSWORD, ALICE_PASSWORD, Identity, identity

Out = SignInOutcome
WEB = "web 127.0.0.1"

ALICE_ACTOR = Actor("alice", "user")
"""Alice herself: only a token's owner makes a token that acts for them."""


async def alice_with_her_password(ids: Identity) -> None:
    ids.add_first_admin()
    ids.add_alice()
    first = await ids.service.sign_in("alice", "temporary password 1", source=WEB)
    assert first.outcome is Out.MUST_CHANGE_PASSWORD and first.token is None
    changed = await ids.service.change_password(
        "alice", "temporary password 1", ALICE_PASSWORD, source=WEB
    )
    assert changed.ok


async def test_sign_in_resolve_and_sign_out(tmp_path: Path, clock: FakeClock) -> None:
    with identity(tmp_path / "s.db", clock) as ids:
        await alice_with_her_password(ids)
        result = await ids.service.sign_in("alice", ALICE_PASSWORD, source=WEB)
        assert result.ok and result.token and result.principal
        assert result.principal.role is Role.TECHNICIAN and result.principal.may_sign
        principal = await ids.service.resolve_session(result.token)
        assert principal is not None
        assert (principal.user_id, principal.printed_name, principal.via) == (
            "alice",
            "Alice Tech",
            Via.SESSION,
        )
        assert principal.session_id == result.principal.session_id
        assert principal.signed_in_session is None  # no signature yet in this session
        await ids.service.mark_signed(principal)
        again = await ids.service.resolve_session(result.token)
        assert again is not None and again.signed_in_session == clock.now()
        assert await ids.service.sign_out(result.token)
        assert await ids.service.resolve_session(result.token) is None
        assert not await ids.service.sign_out(result.token)
        actions = [row["action"] for row in ids.records.sign_in_log("alice")]
        assert actions == ["refused", "password_changed", "signed_in", "signed_out"]
        assert [e.action for e in ids.audit if e.actor == "alice"] == [
            "sign_in_refused",
            "password_changed",
            "signed_in",
            "signed_out",
        ]


async def test_the_token_is_stored_hashed_only(tmp_path: Path, clock: FakeClock) -> None:
    with identity(tmp_path / "s.db", clock) as ids:
        await alice_with_her_password(ids)
        result = await ids.service.sign_in("alice", ALICE_PASSWORD, source=WEB)
        assert result.token is not None
    raw = b"".join(p.read_bytes() for p in sorted(tmp_path.glob("s.db*")))  # noqa: ASYNC240
    assert result.token.encode() not in raw
    assert ALICE_PASSWORD.encode() not in raw and ADMIN_PASSWORD.encode() not in raw


async def test_a_failed_sign_in_never_says_which_part_was_wrong(
    tmp_path: Path, clock: FakeClock
) -> None:
    with identity(tmp_path / "s.db", clock) as ids:
        await alice_with_her_password(ids)
        unknown = await ids.service.sign_in("mallory", ALICE_PASSWORD, source=WEB)
        wrong = await ids.service.sign_in("alice", "not her password", source=WEB)
        assert unknown == wrong and unknown.outcome is Out.BAD_CREDENTIALS
        ids.admin.disable(ids.root, "alice", "left the company")
        disabled = await ids.service.sign_in("alice", ALICE_PASSWORD, source=WEB)
        assert disabled.outcome is Out.BAD_CREDENTIALS


async def test_five_failures_lock_for_15_minutes_then_unlock(
    tmp_path: Path, clock: FakeClock
) -> None:
    with identity(tmp_path / "s.db", clock) as ids:
        await alice_with_her_password(ids)
        for n in range(4):
            result = await ids.service.sign_in("alice", f"wrong guess {n}", source=WEB)
            assert result.outcome is Out.BAD_CREDENTIALS and result.locked_until is None
            await clock.advance(10)
        assert ids.events == []
        fifth = await ids.service.sign_in("alice", "wrong guess 5", source=WEB)
        locked_at = clock.now()
        assert fifth.outcome is Out.BAD_CREDENTIALS
        assert fifth.locked_until == locked_at + timedelta(minutes=15)
        [event] = ids.events
        assert event.kind is EventKind.ACCOUNT_LOCKED and event.source == "coldwatch"
        assert event.data["user_id"] == "alice" and "5 failed" in event.message
        # t+14:59: the right password is refused too
        await clock.advance(15 * 60 - 1)
        refused = await ids.service.sign_in("alice", ALICE_PASSWORD, source=WEB)
        assert refused.outcome is Out.LOCKED and refused.locked_until == fifth.locked_until
        # t+15:00: unlocked, and the count starts afresh
        await clock.advance(1)
        assert (await ids.service.sign_in("alice", ALICE_PASSWORD, source=WEB)).ok
        log = [(r["action"], r["until"]) for r in ids.records.sign_in_log("alice")]
        assert ("locked", locked_at + timedelta(minutes=15)) in log
        assert "account_locked" in [e.action for e in ids.audit]


async def test_lockout_is_configurable_and_counts_only_failures_in_a_row(
    tmp_path: Path, clock: FakeClock
) -> None:
    lockout = LockoutSettings(attempts=3, duration="1h")
    with identity(tmp_path / "s.db", clock, lockout=lockout) as ids:
        await alice_with_her_password(ids)
        for _ in range(2):
            await ids.service.sign_in("alice", "wrong password!", source=WEB)
        assert (await ids.service.sign_in("alice", ALICE_PASSWORD, source=WEB)).ok
        for _ in range(2):
            await ids.service.sign_in("alice", "wrong password!", source=WEB)
        assert ids.events == []  # 2 + 2, not 3 in a row
        third = await ids.service.sign_in("alice", "wrong password!", source=WEB)
        assert third.locked_until == clock.now() + timedelta(hours=1)
        await clock.advance(3599)
        assert (
            await ids.service.sign_in("alice", ALICE_PASSWORD, source=WEB)
        ).outcome is Out.LOCKED


async def test_unknown_user_ids_lock_like_real_ones(tmp_path: Path, clock: FakeClock) -> None:
    with identity(tmp_path / "s.db", clock) as ids:
        for _ in range(5):
            await ids.service.sign_in("ghost", "some password here", source=WEB)
        assert (await ids.service.sign_in("ghost", "x" * 12, source=WEB)).outcome is Out.LOCKED
        assert ids.events[0].data["user_id"] == "ghost"


async def test_idle_timeout_on_the_clock(tmp_path: Path, clock: FakeClock) -> None:
    with identity(tmp_path / "s.db", clock) as ids:
        await alice_with_her_password(ids)
        token = (await ids.service.sign_in("alice", ALICE_PASSWORD, source=WEB)).token
        assert token is not None
        for _ in range(3):  # activity keeps it alive: 14:59 between requests
            await clock.advance(15 * 60 - 1)
            assert await ids.service.resolve_session(token) is not None
        await clock.advance(15 * 60)
        assert await ids.service.resolve_session(token) is None
        ended = ids.records.sign_in_log("alice")[-1]
        assert (ended["action"], ended["detail"]) == ("session_ended", "idle_timeout")
        assert await ids.service.resolve_session(token) is None  # stays ended


async def test_absolute_timeout_despite_activity(tmp_path: Path, clock: FakeClock) -> None:
    sessions = SessionSettings(idle_timeout="15m", absolute_timeout="1h")
    with identity(tmp_path / "s.db", clock, sessions=sessions) as ids:
        await alice_with_her_password(ids)
        token = (await ids.service.sign_in("alice", ALICE_PASSWORD, source=WEB)).token
        assert token is not None
        for _ in range(5):  # t = 10, 20, ... 50 min
            await clock.advance(600)
            assert await ids.service.resolve_session(token) is not None
        await clock.advance(599)
        assert await ids.service.resolve_session(token) is not None  # 59:59
        await clock.advance(1)
        assert await ids.service.resolve_session(token) is None  # 1:00:00
        assert ids.records.sign_in_log("alice")[-1]["detail"] == "absolute_timeout"


def test_session_settings_refuse_idle_longer_than_absolute() -> None:
    with pytest.raises(ValueError, match="idle_timeout cannot be longer"):
        SessionSettings(idle_timeout="2h", absolute_timeout="1h")


async def test_password_expiry_after_90_days(tmp_path: Path, clock: FakeClock) -> None:
    with identity(tmp_path / "s.db", clock) as ids:
        await alice_with_her_password(ids)
        await clock.advance(90 * 86400 - 1)
        token = (await ids.service.sign_in("alice", ALICE_PASSWORD, source=WEB)).token
        assert token is not None
        await clock.advance(1)
        assert (await ids.service.sign_in("alice", ALICE_PASSWORD, source=WEB)).outcome is (
            Out.EXPIRED
        )
        new = "a fresh password for q2"
        assert (await ids.service.change_password("alice", ALICE_PASSWORD, new, source=WEB)).ok
        assert (await ids.service.sign_in("alice", new, source=WEB)).ok


async def test_the_last_five_passwords_cannot_be_reused(tmp_path: Path, clock: FakeClock) -> None:
    with identity(tmp_path / "s.db", clock) as ids:
        await alice_with_her_password(ids)
        current = ALICE_PASSWORD
        for n in range(4):
            new = f"rotation password {n}"
            assert (await ids.service.change_password("alice", current, new, source=WEB)).ok
            current = new
        # the last five: ALICE_PASSWORD and rotations 0..3
        for old in (ALICE_PASSWORD, "rotation password 0", "rotation password 3"):
            with pytest.raises(PasswordRejected, match="last 5"):
                await ids.service.change_password("alice", current, old, source=WEB)
        with pytest.raises(PasswordRejected, match="user id"):
            await ids.service.change_password("alice", current, "xx ALICE xx 1234", source=WEB)
        assert (await ids.service.change_password("alice", current, "rotation 4!!!", source=WEB)).ok
        # the temporary one is now the sixth newest: allowed again
        await ids.service.change_password(
            "alice", "rotation 4!!!", "temporary password 1", source=WEB
        )


async def test_a_one_time_password_must_be_changed_and_cannot_sign(
    tmp_path: Path, clock: FakeClock
) -> None:
    with identity(tmp_path / "s.db", clock) as ids:
        await alice_with_her_password(ids)
        session = (await ids.service.sign_in("alice", ALICE_PASSWORD, source=WEB)).token
        assert session is not None
        one_time = ids.admin.reset_password(ids.root, "alice", "forgot her password")
        assert await ids.service.resolve_session(session) is None  # her sessions ended
        user = ids.records.user("alice")
        assert user is not None and user.password_one_time and not user.can_sign
        result = await ids.service.sign_in("alice", one_time, source=WEB)
        assert result.outcome is Out.MUST_CHANGE_PASSWORD and result.token is None
        assert (await ids.service.sign_in("alice", ALICE_PASSWORD, source=WEB)).outcome is (
            Out.BAD_CREDENTIALS
        )
        new = "after the reset 2026"
        assert (await ids.service.change_password("alice", one_time, new, source=WEB)).ok
        user = ids.records.user("alice")
        assert user is not None and user.can_sign and not user.password_one_time
        signed_in = await ids.service.sign_in("alice", new, source=WEB)
        assert signed_in.principal is not None and signed_in.principal.may_sign


async def test_a_one_time_password_expires(tmp_path: Path, clock: FakeClock) -> None:
    with identity(tmp_path / "s.db", clock) as ids:
        ids.add_first_admin()
        ids.add_alice()
        await clock.advance(72 * 3600)
        result = await ids.service.sign_in("alice", "temporary password 1", source=WEB)
        assert result.outcome is Out.EXPIRED


async def test_api_tokens_have_one_role_an_expiry_and_never_sign(
    tmp_path: Path, clock: FakeClock
) -> None:
    with identity(tmp_path / "s.db", clock) as ids:
        ids.add_first_admin()
        made = ids.admin.create_token(ids.root, "bms bridge", Role.VIEWER, 30, "BMS reads alarms")
        principal = await ids.service.resolve_api_token(made.token)
        assert principal is not None
        assert (principal.role, principal.via, principal.may_sign) == (
            Role.VIEWER,
            Via.TOKEN,
            False,
        )
        assert await ids.service.resolve_api_token("not-a-token") is None
        await clock.advance(30 * 86400)
        assert await ids.service.resolve_api_token(made.token) is None  # expired
        ids.add_alice()
        other = ids.admin.create_token(
            ALICE_ACTOR, "lims", Role.TECHNICIAN, 1, "LIMS acks", owner="alice"
        )
        assert await ids.service.resolve_api_token(other.token) is not None
        ids.admin.revoke_token(ids.root, other.token_id, "LIMS retired")
        assert await ids.service.resolve_api_token(other.token) is None


async def test_a_token_acts_for_its_owner_within_the_owners_role(
    tmp_path: Path, clock: FakeClock
) -> None:
    with identity(tmp_path / "s.db", clock) as ids:
        ids.add_first_admin()
        ids.add_alice(role=Role.SUPERVISOR, person="alice-p")
        with pytest.raises(AdminRefused, match=r"only reads \(viewer\)"):
            ids.admin.create_token(ids.root, "lims", Role.TECHNICIAN, 30, "r")
        with pytest.raises(AdminRefused, match="at most its owner's"):
            ids.admin.create_token(ALICE_ACTOR, "lims", Role.QA, 30, "r", owner="alice")
        with pytest.raises(AdminRefused, match="not an enabled user"):
            ids.admin.create_token(
                Actor("nobody", "user"), "lims", Role.VIEWER, 30, "r", owner="nobody"
            )
        made = ids.admin.create_token(ALICE_ACTOR, "lims", Role.TECHNICIAN, 30, "r", owner="alice")
        principal = await ids.service.resolve_api_token(made.token)
        assert principal is not None
        assert (principal.user_id, principal.person_id, principal.role, principal.may_sign) == (
            "alice", "alice-p", Role.TECHNICIAN, False
        )  # fmt: skip
        assert (principal.session_id, principal.printed_name) == (made.token_id, "Alice Tech")
        created = next(e for e in ids.audit if e.action == "api_token_created")
        assert created.new == {"role": "technician", "name": "lims", "owner": "alice"}
        ids.admin.set_role(ids.root, "alice", Role.VIEWER, "office work")
        assert await ids.service.resolve_api_token(made.token) is None  # checked at every use
        ids.admin.set_role(ids.root, "alice", Role.TECHNICIAN, "back")
        assert await ids.service.resolve_api_token(made.token) is not None
        ids.admin.disable(ids.root, "alice", "left")
        assert await ids.service.resolve_api_token(made.token) is None
    checks = {c.log.table: c for c in verify_file(tmp_path / "s.db")}
    assert checks["api_token_log"].ok and checks["api_token_log"].rows == 1


async def test_a_machine_token_from_before_owners_only_reads(
    tmp_path: Path, clock: FakeClock
) -> None:
    """A token created as a technician without an owner (possible before schema 6) acts as
    a viewer: a machine never acknowledges anonymously."""
    with identity(tmp_path / "s.db", clock) as ids:
        ids.records.log_token(
            clock.now(), "tok-old", "created", token_hash("old-token"), Role.TECHNICIAN,
            "kiosk", clock.now() + timedelta(days=30), "root-admin", "before owners",
        )  # fmt: skip
        principal = await ids.service.resolve_api_token("old-token")
        assert principal is not None
        assert (principal.role, principal.person_id, principal.user_id) == (
            Role.VIEWER, None, "tok-old"
        )  # fmt: skip


async def test_the_person_lookup_attributes_sms_and_voice_to_the_user(
    tmp_path: Path, clock: FakeClock
) -> None:
    with identity(tmp_path / "s.db", clock) as ids:
        ids.add_first_admin()
        ids.add_alice(person="alice-p")
        assert await ids.service.user_of_person("alice-p") == "alice"
        assert await ids.service.user_of_person("bob-p") is None


async def test_no_password_hash_or_token_in_the_logs(
    tmp_path: Path, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    with identity(tmp_path / "s.db", clock) as ids:
        await alice_with_her_password(ids)
        token = (await ids.service.sign_in("alice", ALICE_PASSWORD, source=WEB)).token
        for _ in range(5):
            await ids.service.sign_in("alice", "a wrong password", source=WEB)
        one_time = ids.admin.reset_password(ids.root, "alice", "locked out")
        hashes = [v.password_hash for v in ids.records.history("alice") if v.password_hash]
        secrets = [ALICE_PASSWORD, ADMIN_PASSWORD, "a wrong password", one_time, token, *hashes]
        text = caplog.text + "".join(repr(e) for e in ids.audit) + repr(ids.events)
        assert "alice" in caplog.text  # the logs do say what happened
        for secret in secrets:
            assert secret and secret not in text


async def test_concurrent_guesses_lock_after_five_all_the_same(
    tmp_path: Path, clock: FakeClock
) -> None:
    with identity(tmp_path / "s.db", clock) as ids:
        await alice_with_her_password(ids)
        results = await asyncio.gather(
            *(ids.service.sign_in("alice", f"guess number {n}", source=WEB) for n in range(8))
        )
        outcomes = [r.outcome for r in results]
        assert outcomes == [Out.BAD_CREDENTIALS] * 5 + [Out.LOCKED] * 3
        assert len(ids.events) == 1
        failed = [r for r in ids.records.sign_in_log("alice") if r["action"] == "failed"]
        assert len(failed) == 5
        assert not ids.service._attempt_locks  # nobody holds one: gone


async def test_abandoned_sessions_are_ended_and_forgotten(tmp_path: Path, clock: FakeClock) -> None:
    sessions = SessionSettings(idle_timeout="15m", absolute_timeout="1h")
    with identity(tmp_path / "s.db", clock, sessions=sessions) as ids:
        await alice_with_her_password(ids)
        for _ in range(3):  # signed in, browser closed: never asked for again
            assert (await ids.service.sign_in("alice", ALICE_PASSWORD, source=WEB)).ok
        assert ids.records.session_count() == 3
        await clock.advance(3600)
        assert (await ids.service.sign_in("alice", ALICE_PASSWORD, source=WEB)).ok
        ended = [r for r in ids.records.sign_in_log("alice") if r["action"] == "session_ended"]
        assert [r["detail"] for r in ended] == ["absolute_timeout"] * 3
        assert ids.records.session_count() == 4  # ended now: kept for one more period
        await clock.advance(3601)
        assert (await ids.service.sign_in("alice", ALICE_PASSWORD, source=WEB)).ok
        assert ids.records.session_count() == 2  # the three forgotten, one ended, one open
