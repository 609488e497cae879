"""A signed alarm command from sign-in to the record (monitor/app/signed_commands.py): the
identity and the alarm engine on one real store file; the signature names the signer's printed
name and how the credentials were given; a command the engine refuses does not make the
session continuous; verify checks every signature against its record."""

from __future__ import annotations

from pathlib import Path

import pytest

from alarms.model import AlarmCommandError, AlarmState, AlarmView
from monitor.app.signed_commands import signed_alarm_command
from monitor.core.clock import FakeClock
from monitor.identity.signing import SignatureRefused, SigningCredentials, SigningService
from monitor.store.base import AuditQuery
from tests.alarms.conftest import engine_factory  # noqa: F401
from tests.support.alarm_engine import KEY, Factory, cfg
from tests.support.identity import ALICE_PASSWORD, identity

WEB = "web 127.0.0.1"
SAFE = "Acknowledged: product checked and safe"
RESET = "Reset: the cause was found and corrected"


async def test_sign_in_then_signed_acknowledge_and_reset(
    engine_factory: Factory,  # noqa: F811
    tmp_path: Path,
    clock: FakeClock,
) -> None:
    h = await engine_factory(**cfg(latching=True))
    await h.push("box.t", 11.0, 0)
    with identity(tmp_path / "cw.db", clock) as ids:
        ids.add_first_admin()
        ids.add_alice()
        await ids.service.change_password(
            "alice", "temporary password 1", ALICE_PASSWORD, source=WEB
        )
        session = await ids.service.sign_in("alice", ALICE_PASSWORD, source=WEB)
        assert session.principal is not None and session.token is not None
        signing = SigningService(ids.service, clock_synchronised=lambda: False)

        principal, token = session.principal, session.token

        async def command(
            action: str, meaning: str, user_id: str | None, target: str = KEY
        ) -> list[AlarmView]:
            return await signed_alarm_command(
                signing, h.engine, principal, token,
                SigningCredentials(ALICE_PASSWORD, user_id), action=action, target=target,
                meaning=meaning, comment=f"{action} after checking", source=WEB,
            )  # fmt: skip

        with pytest.raises(AlarmCommandError):  # refused by the engine after signing
            await command("acknowledge", SAFE, "alice", target="A0000")
        with pytest.raises(SignatureRefused) as refused:  # so still the first signature
            await command("acknowledge", SAFE, None)
        assert refused.value.reason == "user_id_required"
        [view] = await command("acknowledge", SAFE, "alice")
        assert view.state is AlarmState.ACKED
        await h.push("box.t", 5.0, 120)
        [view] = await command("reset", RESET, None)  # later in the session: password alone
        assert view.state is AlarmState.NORMAL
    signatures = h.store.signatures()
    assert [
        (s.signature.action, s.signature.printed_name, s.signature.credentials) for s in signatures
    ] == [
        ("acknowledge", "Alice Tech", "user_id_and_password"),
        ("reset", "Alice Tech", "password"),
    ]
    assert all(s.signature.clock_synchronised is False for s in signatures)
    rows = {r.seq: r for r in h.store.alarm_records(key=KEY)}
    assert [rows[s.record_seq].person for s in signatures] == ["alice", "alice"]
    audited = h.store.audit_entries(AuditQuery(action="alarm."))
    assert [(e.action, e.user_id, e.method) for e in audited] == [
        ("alarm.acknowledged", "alice", "web"),
        ("alarm.reset", "alice", "web"),
    ]
    result = h.store.verify()
    assert result.ok and result.signatures == 2
