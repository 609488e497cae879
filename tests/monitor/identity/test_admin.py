"""User administration: versions appended with who and why, ids never reused, no deletion,
the first admin, the acting admin, person links; and the chain `coldwatch verify` checks."""

from __future__ import annotations

import sqlite3
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from monitor.core.clock import FakeClock
from monitor.identity.admin import AdminRefused, UserAdmin
from monitor.identity.model import Actor
from monitor.identity.passwords import MAX_WORKERS, THREAD_PREFIX, Hasher
from monitor.identity.records import IdentityRecords
from monitor.identity.roles import Role
from monitor.store.side_chain_verify import verify_file
from tests.support.identity import ADMIN_PASSWORD, identity, make_store


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


def test_user_admin_hashes_in_the_pool_two_at_most(tmp_path: Path, clock: FakeClock) -> None:
    """Eight admins' requests at once (worker threads, as the control socket and the users
    pages run them): every hash runs in the argon2 pool's threads, never more than two at a
    time, never in the caller's thread."""
    make_store(tmp_path / "s.db")
    records = IdentityRecords(tmp_path / "s.db")
    hasher = Hasher(time_cost=1, memory_kib=64, workers=MAX_WORKERS)
    admin = UserAdmin(records, clock.now, hasher=hasher)
    running = 0
    most = 0
    threads: set[str] = set()
    lock = threading.Lock()
    real = hasher.hash_sync

    def counted(password: str) -> str:
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
            threads.add(threading.current_thread().name)
        try:
            time.sleep(0.02)  # long enough for the callers to pile up: not measured
            return real(password)
        finally:
            with lock:
                running -= 1

    hasher.hash_sync = counted  # type: ignore[method-assign]
    try:
        admin.add_user(
            admin.first_admin_actor("root"), "root-admin", "Ada Admin", Role.ADMIN,
            ADMIN_PASSWORD, verified_by=None, reason="first admin",
        )  # fmt: skip
        root = Actor("root-admin", "user", "root")

        def add(n: int) -> None:
            admin.add_user(
                root, f"user-{n}", f"User {n}", Role.VIEWER, f"a long password {n}",
                verified_by="root-admin", reason="load",
            )  # fmt: skip

        with ThreadPoolExecutor(max_workers=8) as callers:
            list(callers.map(add, range(8)))
            list(callers.map(lambda n: admin.reset_password(root, f"user-{n}", "r"), range(8)))
        assert hasher.max_workers == MAX_WORKERS == 2
        assert most == 2  # they did pile up, and the pool held them to two
        assert threads and all(name.startswith(THREAD_PREFIX) for name in threads)
        assert len(records.users()) == 9
    finally:
        hasher.close()
        records.close()
