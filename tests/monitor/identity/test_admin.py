"""User administration: versions appended with who and why, ids never reused, no deletion,
the first admin, the acting admin, person links; and the chain `coldwatch verify` checks."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from monitor.core.clock import FakeClock
from monitor.identity.admin import AdminRefused
from monitor.identity.model import Actor
from monitor.identity.roles import Role
from monitor.store.side_chain_verify import verify_file
from tests.support.identity import identity


def test_the_first_admin_only_on_an_empty_store(tmp_path: Path, clock: FakeClock) -> None:
    with identity(tmp_path / "s.db", clock) as ids:
        assert ids.records.users() == []  # no default account
        ids.add_first_admin()
        [admin] = ids.records.users()
        assert (admin.role, admin.changed_by, admin.changed_by_kind) == (
            Role.ADMIN,
            "root",
            "os_user",
        )
        assert admin.verified_by == "OS user root" and not admin.password_one_time
        with pytest.raises(AdminRefused, match="only for a store without users"):
            ids.admin.first_admin_actor("mallory")
        with pytest.raises(AdminRefused, match="first user must be an admin"):
            ids.admin.add_user(
                Actor("x", "os_user", "x"), "bob", "Bob", Role.QA, "long enough pass",
                verified_by=None, reason="r",
            )  # fmt: skip


def test_only_an_enabled_admin_linked_to_the_os_user_acts(tmp_path: Path, clock: FakeClock) -> None:
    with identity(tmp_path / "s.db", clock) as ids:
        ids.add_first_admin()
        ids.admin.link_person(ids.root, "root-admin", "ada", "her own person entry")
        ids.add_alice(person="alice")
        assert ids.admin.acting_admin("ada-os", "ada") == Actor("root-admin", "user", "ada-os")
        with pytest.raises(AdminRefused, match="not linked to an enabled admin"):
            ids.admin.acting_admin("alice-os", "alice")  # a technician
        with pytest.raises(AdminRefused, match="no coldwatch person"):
            ids.admin.acting_admin("nobody", None)


def test_every_change_is_a_new_version_with_who_and_why(tmp_path: Path, clock: FakeClock) -> None:
    with identity(tmp_path / "s.db", clock) as ids:
        ids.add_first_admin()
        ids.add_alice()
        ids.admin.set_role(ids.root, "alice", Role.SUPERVISOR, "promoted to shift lead")
        ids.admin.disable(ids.root, "alice", "left the company")
        ids.admin.enable(ids.root, "alice", "came back")
        history = ids.records.history("alice")
        assert [(v.version, v.change, v.role, v.enabled) for v in history] == [
            (1, "added", Role.TECHNICIAN, True),
            (2, "role", Role.SUPERVISOR, True),
            (3, "disabled", Role.SUPERVISOR, False),
            (4, "enabled", Role.SUPERVISOR, True),
        ]
        assert {(v.changed_by, v.os_user) for v in history} == {("root-admin", "root")}
        assert history[0].verified_by == "root-admin"
        assert [v.reason for v in history][1:] == [
            "promoted to shift lead", "left the company", "came back"
        ]  # fmt: skip
        with pytest.raises(AdminRefused, match="never reused"):
            ids.add_alice()
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            ids.records._db().execute("DELETE FROM user_versions WHERE user_id = 'alice'")
        audit = [(e.action, e.target) for e in ids.audit]
        assert ("user_role", "alice") in audit and ("user_disabled", "alice") in audit
        role_change = next(e for e in ids.audit if e.action == "user_role")
        assert role_change.old is not None and role_change.new is not None
        assert (role_change.old["role"], role_change.new["role"]) == ("technician", "supervisor")
        assert "password_hash" not in role_change.new


def test_refusals(tmp_path: Path, clock: FakeClock) -> None:
    with identity(tmp_path / "s.db", clock) as ids:
        ids.add_first_admin()
        root = ids.root

        def add(user_id: str, password: str = "a good password", verified: str | None = None,
                person: str | None = None) -> None:  # fmt: skip
            ids.admin.add_user(
                root, user_id, "Some One", Role.QA, password,
                verified_by=verified or "root-admin", reason="new", person_id=person,
            )  # fmt: skip

        with pytest.raises(AdminRefused, match="at least 12"):
            add("bob", "short")
        with pytest.raises(AdminRefused, match="user id"):
            add("bob", "bob-password-long")
        with pytest.raises(AdminRefused, match="not an enabled admin"):
            add("bob", verified="alice")
        with pytest.raises(AdminRefused, match="lower-case"):
            add("Bob Smith")
        with pytest.raises(AdminRefused, match="verified"):
            ids.admin.add_user(
                root, "bob", "Bob", Role.QA, "a good password", verified_by=None, reason="r"
            )
        with pytest.raises(AdminRefused, match="last enabled admin"):
            ids.admin.disable(root, "root-admin", "oops")
        with pytest.raises(AdminRefused, match="own role"):
            ids.admin.set_role(root, "root-admin", Role.QA, "wants QA rights")
        add("bob", person="bob-p")
        with pytest.raises(AdminRefused, match="linked to user bob already"):
            add("carol", person="bob-p")
        with pytest.raises(AdminRefused, match="reason must not be empty"):
            ids.admin.disable(root, "bob", "   ")
        with pytest.raises(AdminRefused, match="no user"):
            ids.admin.disable(root, "nobody", "r")
        with pytest.raises(AdminRefused, match="cannot be an admin"):
            ids.admin.create_token(root, "t", Role.ADMIN, 10, "r")


def test_a_tampered_user_version_fails_verify(tmp_path: Path, clock: FakeClock) -> None:
    path = tmp_path / "s.db"
    with identity(path, clock) as ids:
        ids.add_first_admin()
        ids.add_alice()
        ids.admin.set_role(ids.root, "alice", Role.VIEWER, "demoted")
    checks = {c.log.table: c for c in verify_file(path)}
    assert checks["user_versions"].ok and checks["user_versions"].rows == 3
    assert checks["sign_in_log"].ok and checks["api_token_log"].ok
    conn = sqlite3.connect(path)
    conn.execute("DROP TRIGGER user_versions_no_update")
    conn.execute("UPDATE user_versions SET role = 'admin' WHERE user_id = 'alice' AND version = 2")
    conn.commit()
    conn.close()
    check = {c.log.table: c for c in verify_file(path)}["user_versions"]
    assert not check.ok and check.bad_seq == 3
    assert "user versions: FAILED" in check.line()
