"""Who may stop, restart and reload the daemon through its control socket.

The OS user the kernel names (``SO_PEERCRED``) is mapped to a person (``people[].os_users``),
the person to the user linked to it, the user's role to the permission the command needs
(:mod:`monitor.identity.roles`): ``operate_daemon`` for ``stop`` and ``restart`` (supervisor,
admin), ``reload_config`` for ``reload`` (admin). ``root`` (uid 0) may always stop and
restart: the service manager and operations must be able to, and the stop is recorded with
that OS user. While the store has no user at all (a site that has not set up sign-in yet),
every mapped person may, as before users existed: there is no role to ask.

Every refusal made here is an entry of the audit trail (``daemon.stop_refused``,
``daemon.restart_refused``, ``daemon.reload_refused``): who asked, why they said, and why not.
(An OS user mapped to no person is refused earlier, by the control socket, and is in its
refusal log, not the audit trail.)
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable, Sequence
from typing import Final

from alarms.ack.control_socket import Caller
from monitor.core.clock import Clock
from monitor.identity.records import IdentityRecords
from monitor.identity.roles import Permission, allows
from monitor.store.base import AuditEntry, StoreError

log = logging.getLogger(__name__)

NEEDS: Final = {
    "stop": Permission.OPERATE_DAEMON,
    "restart": Permission.OPERATE_DAEMON,
    "reload": Permission.RELOAD_CONFIG,
}
ROOT_UID: Final = 0

WriteAudit = Callable[[Sequence[AuditEntry]], object]


class DaemonAccess:
    """:meth:`check` is the control socket's ``authorise``. ``records``: identity's tables
    (None: a store without them; then the mapping alone decides, as before users)."""

    def __init__(
        self,
        records: IdentityRecords | None,
        clock: Clock,
        write_audit: WriteAudit,
        synchronised: Callable[[], bool | None] = lambda: None,
    ) -> None:
        self.records = records
        self.clock = clock
        self.write_audit = write_audit
        self.synchronised = synchronised

    def check(self, command: str, caller: Caller, reason: str) -> str | None:
        """None when ``caller`` may ``command``; else why not (recorded)."""
        needed = NEEDS.get(command)
        if needed is None:
            return self._refused(command, caller, reason, None, f"unknown command {command!r}")
        if caller.uid == ROOT_UID and needed is Permission.OPERATE_DAEMON:
            return None
        try:
            return self._by_role(command, caller, reason, needed)
        except (StoreError, sqlite3.Error) as exc:  # an answer, never a dropped request
            return self._refused(
                command, caller, reason, None,
                f"the user store cannot be read to check your role ({exc}); try again, or "
                "stop as root (systemctl stop)",
            )  # fmt: skip

    def _by_role(self, command: str, caller: Caller, reason: str, needed: Permission) -> str | None:
        if self.records is None or not self.records.users():
            return None if caller.person else self._refused(
                command, caller, reason, None, "your OS user is mapped to no person"
            )  # fmt: skip
        user_id = self.records.user_of_person(caller.person) if caller.person else None
        user = self.records.user(user_id) if user_id else None
        if user is not None and user.enabled and allows(user.role, needed):
            return None
        if user is None:
            who = f"person {caller.person} is linked to no enabled user"
        elif not user.enabled:
            who = f"user {user.user_id} is disabled"
        else:
            who = f"user {user.user_id} is {user.role.value}"
        holders = "supervisor or admin" if needed is Permission.OPERATE_DAEMON else "admin"
        why = f"{command} needs the {needed.value} permission ({holders}); {who}"
        return self._refused(command, caller, reason, user_id, why)

    def _refused(
        self, command: str, caller: Caller, reason: str, user_id: str | None, why: str
    ) -> str:
        log.warning("coldwatch %s refused for OS user %s: %s", command, caller.os_user, why)
        self.write_audit(
            [
                AuditEntry(
                    at=self.clock.now(),
                    action=f"daemon.{command}_refused",
                    method="cli",
                    person=caller.person,
                    user_id=user_id,
                    os_user=caller.os_user or f"uid {caller.uid}",
                    subject="coldwatch",
                    reason=reason,
                    detail={"refused": why, "uid": caller.uid},
                    clock_synchronised=self.synchronised(),
                )
            ]
        )
        return why
