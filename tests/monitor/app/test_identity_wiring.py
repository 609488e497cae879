"""Identity's audit entries as entries of the audit trail: the dotted action, the method, who
(user id or OS user), and the source kept in the detail; written through the audit journal to
the real store."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from monitor.app.identity_wiring import audit_action, audit_sink, split_actor, to_audit_entry
from monitor.identity.model import AuditEntry as IdentityEntry
from monitor.store.audit_journal import AuditJournal
from monitor.store.base import AuditQuery
from monitor.store.sqlite import SQLiteStore

AT = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("action", "expected"),
    [
        ("signed_in", "session.signed_in"),
        ("sign_in_failed", "session.sign_in_failed"),
        ("account_locked", "session.account_locked"),
        ("session_ended", "session.ended"),
        ("user_added", "user.added"),
        ("user_password_reset", "user.password_reset"),
        ("password_changed", "user.password_changed"),
        ("api_token_created", "api_token.created"),
        ("something_new", "identity.something_new"),
    ],
)
def test_actions_are_dotted_like_the_rest_of_the_trail(action: str, expected: str) -> None:
    assert audit_action(action) == expected


def test_who_is_split_into_user_id_and_os_user() -> None:
    assert split_actor("ada") == ("ada", None)
    assert split_actor("ada (OS user ada-os)") == ("ada", "ada-os")
    assert split_actor("OS user root") == (None, "root")


def test_a_user_change_becomes_an_audit_entry_in_the_store(tmp_path: Path) -> None:
    entry = IdentityEntry(
        AT, "ada (OS user ops)", "user_role", "tess", "cli", "promoted",
        {"role": "technician"}, {"role": "supervisor"},
    )  # fmt: skip
    converted = to_audit_entry(entry, True)
    assert (converted.action, converted.method, converted.user_id, converted.os_user) == (
        "user.role", "cli", "ada", "ops",
    )  # fmt: skip
    with SQLiteStore(tmp_path / "cw.db") as store:
        write = audit_sink(AuditJournal(store), lambda: True)
        write(entry)
        write(IdentityEntry(AT, "tess", "sign_in_failed", None, "web 192.0.2.7", "wrong password"))
        stored = store.audit_entries(AuditQuery())
    assert [(e.action, e.method, e.user_id) for e in stored] == [
        ("user.role", "cli", "ada"),
        ("session.sign_in_failed", "web", "tess"),
    ]
    assert stored[0].old == {"role": "technician"} and stored[0].new == {"role": "supervisor"}
    assert stored[1].detail == {"source": "web 192.0.2.7"}
    assert stored[1].clock_synchronised is True
