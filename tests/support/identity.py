"""A store with identity tables, and the identity service on a fake clock, for tests."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from monitor.core.clock import FakeClock
from monitor.core.model import Event
from monitor.identity.admin import UserAdmin
from monitor.identity.model import Actor, AuditEntry
from monitor.identity.passwords import Hasher
from monitor.identity.records import IdentityRecords
from monitor.identity.roles import Role
from monitor.identity.service import IdentityService
from monitor.store.sqlite import SQLiteStore

ADMIN_PASSWORD = "first admin passphrase"
ALICE_PASSWORD = "she chooses well 42"


def cheap_hasher() -> Hasher:
    """argon2id at its smallest cost: the rules are the same, the tests fast."""
    return Hasher(time_cost=1, memory_kib=64, parallelism=1, workers=1)


def make_store(path: Path) -> Path:
    with SQLiteStore(path):
        pass
    return path


@dataclass
class Identity:
    records: IdentityRecords
    service: IdentityService
    admin: UserAdmin
    clock: FakeClock
    audit: list[AuditEntry] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)

    @property
    def root(self) -> Actor:
        return Actor("root-admin", "user", "root")

    def add_first_admin(self) -> None:
        actor = self.admin.first_admin_actor("root")
        self.admin.add_user(
            actor, "root-admin", "Ada Admin", Role.ADMIN, ADMIN_PASSWORD,
            verified_by=None, reason="first admin",
        )  # fmt: skip

    def add_alice(self, role: Role = Role.TECHNICIAN, person: str | None = "alice") -> None:
        """Alice, with a password of her own (the admin's one-time one changed)."""
        self.admin.add_user(
            self.root, "alice", "Alice Tech", role, "temporary password 1",
            verified_by="root-admin", reason="new technician", person_id=person,
        )  # fmt: skip


@contextmanager
def identity(path: Path, clock: FakeClock, **service_args: object) -> Iterator[Identity]:
    make_store(path)
    records = IdentityRecords(path)
    hasher = cheap_hasher()
    audit: list[AuditEntry] = []
    events: list[Event] = []
    service = IdentityService(
        records,
        clock,
        hasher=hasher,
        on_audit=audit.append,
        on_event=events.append,
        **service_args,  # type: ignore[arg-type]
    )
    admin = UserAdmin(records, clock.now, hasher=hasher, on_audit=audit.append)
    try:
        yield Identity(records, service, admin, clock, audit, events)
    finally:
        service.close()
        records.close()
