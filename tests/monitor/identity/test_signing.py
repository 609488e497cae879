"""The signing service (monitor/identity/signing.py) as timelines on the fake clock against a
real store: user id and password at the first signing of a session, the password alone later,
both again after sign-out or a timeout; API tokens and one-time passwords never sign; a wrong
signature password counts towards the lockout (five lock the account and raise the alarm);
meanings outside the action's closed list and missing comments are refused."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from monitor.core.clock import FakeClock
from monitor.core.model import EventKind
from monitor.identity.model import Actor, Principal
from monitor.identity.roles import Role
from monitor.identity.settings import SessionSettings, SignatureSettings
from monitor.identity.signing import SignatureRefused, SigningCredentials, SigningService
from tests.support.identity import ALICE_PASSWORD, Identity, identity

WEB = "web 127.0.0.1"
SAFE = "Acknowledged: product checked and safe"

ALICE_ACTOR = Actor("alice", "user")
"""Alice herself: only a token's owner makes a token that acts for them."""


async def alice_signed_in(ids: Identity) -> tuple[Principal, str]:
    ids.add_first_admin()
    ids.add_alice()
    await ids.service.change_password("alice", "temporary password 1", ALICE_PASSWORD, source=WEB)
    result = await ids.service.sign_in("alice", ALICE_PASSWORD, source=WEB)
    assert result.ok and result.principal is not None and result.token is not None
    return result.principal, result.token


async def sign(
    signing: SigningService,
    principal: Principal,
    token: str,
    *,
    user_id: str | None = "alice",
    password: str = ALICE_PASSWORD,
    meaning: str = SAFE,
    comment: str = "door was ajar",
    action: str = "acknowledge",
) -> str:
    """Sign; mark the session as signed (as a committed command does); the credentials kind."""
    signed = await signing.sign(
        principal,
        token,
        SigningCredentials(password, user_id),
        meaning,
        comment,
        action,
        source=WEB,
    )
    await signing.signed(principal)
    return signed.signature.credentials


async def test_first_signing_needs_user_id_later_the_password_alone_until_sign_out(
    tmp_path: Path, clock: FakeClock
) -> None:
    with identity(tmp_path / "s.db", clock) as ids:
        signing = SigningService(ids.service, clock_synchronised=lambda: True)
        principal, token = await alice_signed_in(ids)
        with pytest.raises(SignatureRefused) as refused:
            await sign(signing, principal, token, user_id=None)
        assert refused.value.reason == "user_id_required"
        signed = await signing.sign(
            principal, token, SigningCredentials(ALICE_PASSWORD, "alice"), SAFE, " ok ",
            "acknowledge", source=WEB,
        )  # fmt: skip
        signature = signed.signature
        assert (signature.user_id, signature.printed_name, signature.credentials) == (
            "alice", "Alice Tech", "user_id_and_password",
        )  # fmt: skip
        assert signature.signed_at == clock.now() and signature.clock_synchronised is True
        assert signature.comment == "ok" and signed.person == "alice"
        assert signature.session_id == principal.session_id
        await signing.signed(principal)
        await clock.advance(60)
        assert await sign(signing, principal, token, user_id=None) == "password"
        assert await sign(signing, principal, token) == "password"  # the id may be given again
        # signed out: the next session starts again with user id and password
        assert await ids.service.sign_out(token)
        with pytest.raises(SignatureRefused) as refused:
            await sign(signing, principal, token, user_id=None)
        assert refused.value.reason == "session_ended"
        again = await ids.service.sign_in("alice", ALICE_PASSWORD, source=WEB)
        assert again.principal is not None and again.token is not None
        with pytest.raises(SignatureRefused) as refused:
            await sign(signing, again.principal, again.token, user_id=None)
        assert refused.value.reason == "user_id_required"
        assert await sign(signing, again.principal, again.token) == "user_id_and_password"


async def test_after_an_idle_timeout_the_user_id_is_needed_again(
    tmp_path: Path, clock: FakeClock
) -> None:
    sessions = SessionSettings(idle_timeout=900, absolute_timeout=3600)
    with identity(tmp_path / "s.db", clock, sessions=sessions) as ids:
        signing = SigningService(ids.service)
        principal, token = await alice_signed_in(ids)
        assert await sign(signing, principal, token) == "user_id_and_password"
        await clock.advance(899)
        assert await sign(signing, principal, token, user_id=None) == "password"
        await clock.advance(900)  # idle for the whole timeout: the session ended
        with pytest.raises(SignatureRefused) as refused:
            await sign(signing, principal, token, user_id=None)
        assert refused.value.reason == "session_ended"
        fresh = await ids.service.sign_in("alice", ALICE_PASSWORD, source=WEB)
        assert fresh.principal is not None and fresh.token is not None
        assert fresh.principal.signed_in_session is None
        with pytest.raises(SignatureRefused):
            await sign(signing, fresh.principal, fresh.token, user_id=None)


async def test_an_api_token_and_a_one_time_password_cannot_sign(
    tmp_path: Path, clock: FakeClock
) -> None:
    with identity(tmp_path / "s.db", clock) as ids:
        signing = SigningService(ids.service)
        principal, token = await alice_signed_in(ids)
        new = ids.admin.create_token(
            ALICE_ACTOR, "lims", Role.TECHNICIAN, 30, "LIMS link", owner="alice"
        )
        machine = await ids.service.resolve_api_token(new.token)
        assert machine is not None
        with pytest.raises(SignatureRefused) as refused:
            await sign(signing, machine, new.token)
        assert refused.value.reason == "not_allowed"
        # an admin resets Alice's password: her session ends, her one-time password never signs
        one_time = ids.admin.reset_password(ids.root, "alice", "forgot it")
        with pytest.raises(SignatureRefused) as refused:
            await sign(signing, principal, token, password=one_time)
        assert refused.value.reason == "session_ended"
        first = await ids.service.sign_in("alice", one_time, source=WEB)
        assert first.token is None  # she must change it first: no session to sign in
        stale = Principal("alice", Role.TECHNICIAN, "Alice Tech", principal.via, "x", False)
        with pytest.raises(SignatureRefused) as refused:
            await sign(signing, stale, token, password=one_time)
        assert refused.value.reason == "not_allowed"


async def test_five_wrong_signature_passwords_lock_the_account_and_raise_the_alarm(
    tmp_path: Path, clock: FakeClock
) -> None:
    with identity(tmp_path / "s.db", clock) as ids:
        signing = SigningService(ids.service)
        principal, token = await alice_signed_in(ids)
        for attempt in range(4):
            with pytest.raises(SignatureRefused) as refused:
                await sign(signing, principal, token, password=f"wrong password {attempt}")
            assert refused.value.reason == "bad_credentials"
        assert ids.events == []
        with pytest.raises(SignatureRefused) as refused:
            await sign(signing, principal, token, password="wrong password 5")
        assert refused.value.reason == "account_locked"
        assert refused.value.locked_until == clock.now() + timedelta(minutes=15)
        [event] = ids.events
        assert event.kind is EventKind.ACCOUNT_LOCKED and event.data["user_id"] == "alice"
        # locked: even the right password does not sign until the lock ends
        with pytest.raises(SignatureRefused) as refused:
            await sign(signing, principal, token)
        assert refused.value.reason == "account_locked"
        log = [(r["action"], r["detail"]) for r in ids.records.sign_in_log("alice")]
        assert log[-7:] == [
            *[("failed", "signature: wrong password")] * 5,
            ("locked", "5 failed"),
            ("refused", "signature: account locked"),
        ]
        assert [e.action for e in ids.audit if e.actor == "alice"][-7:] == [
            *["signature_failed"] * 5, "account_locked", "signature_refused",
        ]  # fmt: skip


async def test_another_user_id_counts_as_a_failure_and_a_success_resets_the_count(
    tmp_path: Path, clock: FakeClock
) -> None:
    with identity(tmp_path / "s.db", clock) as ids:
        signing = SigningService(ids.service)
        principal, token = await alice_signed_in(ids)
        with pytest.raises(SignatureRefused) as refused:
            await sign(signing, principal, token, user_id="root-admin")
        assert refused.value.reason == "bad_credentials"
        for attempt in range(3):
            with pytest.raises(SignatureRefused):
                await sign(signing, principal, token, password=f"wrong password {attempt}")
        assert await sign(signing, principal, token) == "user_id_and_password"
        for attempt in range(4):  # counted afresh after the right password
            with pytest.raises(SignatureRefused) as refused:
                await sign(signing, principal, token, password=f"wrong again {attempt}")
            assert refused.value.reason == "bad_credentials"
        assert ids.events == []


async def test_meanings_are_a_closed_list_per_action_and_a_comment_is_required(
    tmp_path: Path, clock: FakeClock
) -> None:
    settings = SignatureSettings(meanings={"shelve": ["Shelved: sensor swap under WO"]})
    with identity(tmp_path / "s.db", clock) as ids:
        signing = SigningService(ids.service, settings)
        principal, token = await alice_signed_in(ids)
        assert signing.meanings("shelve") == ("Shelved: sensor swap under WO",)
        assert SAFE in signing.meanings("acknowledge")  # the default list
        assert signing.meanings("report_approval")
        for meaning, action, comment, reason in (
            ("I agree", "acknowledge", "x", "meaning"),
            (SAFE, "shelve", "x", "meaning"),  # another action's meaning
            (SAFE, "acknowledge", "   ", "comment"),
            (SAFE, "acknowledge", "x" * 1001, "comment"),
            (SAFE, "delete_records", "x", "action"),
        ):
            with pytest.raises(SignatureRefused) as refused:
                await sign(signing, principal, token, meaning=meaning, action=action,
                           comment=comment)  # fmt: skip
            assert refused.value.reason == reason
        assert (
            await sign(
                signing, principal, token, meaning="Shelved: sensor swap under WO", action="shelve"
            )
            == "user_id_and_password"
        )
        # none of the refusals reached the password check, so none counted as a failure
        assert not [r for r in ids.records.sign_in_log("alice") if r["action"] == "failed"]


def test_the_meanings_configuration_is_checked() -> None:
    bad_lists: list[dict[str, list[str]]] = [
        {"delete": ["x"]},
        {"acknowledge": []},
        {"acknowledge": ["a", "a"]},
        {"acknowledge": ["x" * 201]},
    ]
    for bad in bad_lists:
        with pytest.raises(ValueError):
            SignatureSettings(meanings=bad)
