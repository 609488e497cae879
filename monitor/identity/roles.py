"""The role matrix, in one place: what each role may do.

Every check of who may do what asks :func:`allows`; nothing else names a role's rights. The
roles do not nest: an ``admin`` manages users but has no QA rights, and ``qa`` reviews but
cannot shelve (separation of duties, EU GMP Annex 11 section 12).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from types import MappingProxyType
from typing import Final


class Role(enum.StrEnum):
    VIEWER = "viewer"
    TECHNICIAN = "technician"
    SUPERVISOR = "supervisor"
    QA = "qa"
    ADMIN = "admin"


class Permission(enum.StrEnum):
    VIEW = "view"
    """See readings, alarms and their history."""
    ACKNOWLEDGE = "acknowledge"
    SHELVE = "shelve"
    OUT_OF_SERVICE = "out_of_service"
    RETURN_TO_SERVICE = "return_to_service"
    RESET_LATCHED = "reset_latched"
    REVIEW_AND_SIGN = "review_and_sign"
    """QA review and approval of records and reports."""
    AUDIT_TRAIL = "audit_trail"
    USER_ACCESS_REVIEW = "user_access_review"
    """See who holds which role, and every change to it."""
    MANAGE_USERS = "manage_users"
    """Add, disable and enable users, change roles, reset passwords, API tokens."""
    OPERATE_DAEMON = "operate_daemon"
    """Stop and restart the daemon (``coldwatch stop|restart``; root may always)."""
    RELOAD_CONFIG = "reload_config"
    """Put a changed configuration in force (``coldwatch reload``)."""


P = Permission
_TECHNICIAN: Final = frozenset({P.VIEW, P.ACKNOWLEDGE})
_SUPERVISOR: Final = _TECHNICIAN | {
    P.SHELVE,
    P.OUT_OF_SERVICE,
    P.RETURN_TO_SERVICE,
    P.RESET_LATCHED,
    P.OPERATE_DAEMON,
}

ROLE_PERMISSIONS: Final[Mapping[Role, frozenset[Permission]]] = MappingProxyType(
    {
        Role.VIEWER: frozenset({P.VIEW}),
        Role.TECHNICIAN: _TECHNICIAN,
        Role.SUPERVISOR: _SUPERVISOR,
        Role.QA: frozenset({P.VIEW, P.REVIEW_AND_SIGN, P.AUDIT_TRAIL, P.USER_ACCESS_REVIEW}),
        Role.ADMIN: frozenset({P.VIEW, P.MANAGE_USERS, P.OPERATE_DAEMON, P.RELOAD_CONFIG}),
    }
)


def allows(role: Role | str, permission: Permission) -> bool:
    """Whether ``role`` holds ``permission``; an unknown role holds nothing."""
    try:
        return permission in ROLE_PERMISSIONS[Role(role)]
    except ValueError:
        return False


def within(role: Role, limit: Role) -> bool:
    """Whether ``role`` holds nothing that ``limit`` does not (the roles do not nest: a
    technician is within a supervisor, not within an admin)."""
    return ROLE_PERMISSIONS[role] <= ROLE_PERMISSIONS[limit]


def parse_role(text: str) -> Role:
    """The role named ``text``, or ValueError listing the roles."""
    try:
        return Role(text.strip().lower())
    except ValueError:
        names = ", ".join(r.value for r in Role)
        raise ValueError(f"unknown role {text!r} (roles: {names})") from None
