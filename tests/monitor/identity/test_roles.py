"""The role matrix, every cell: who may do what, and no role that does everything."""

from __future__ import annotations

import pytest

from monitor.identity.roles import (
    ROLE_PERMISSIONS,
    Permission,
    Role,
    allows,
    parse_role,
    within,
)

P = Permission
EXPECTED: dict[Role, set[Permission]] = {
    Role.VIEWER: {P.VIEW},
    Role.TECHNICIAN: {P.VIEW, P.ACKNOWLEDGE},
    Role.SUPERVISOR: {
        P.VIEW,
        P.ACKNOWLEDGE,
        P.SHELVE,
        P.OUT_OF_SERVICE,
        P.RETURN_TO_SERVICE,
        P.RESET_LATCHED,
        P.OPERATE_DAEMON,
    },
    Role.QA: {P.VIEW, P.REVIEW_AND_SIGN, P.AUDIT_TRAIL, P.USER_ACCESS_REVIEW},
    Role.ADMIN: {P.VIEW, P.MANAGE_USERS, P.OPERATE_DAEMON, P.RELOAD_CONFIG},
}


@pytest.mark.parametrize("role", list(Role))
@pytest.mark.parametrize("permission", list(Permission))
def test_every_cell_of_the_matrix(role: Role, permission: Permission) -> None:
    assert allows(role, permission) is (permission in EXPECTED[role])
    assert allows(role.value, permission) is (permission in EXPECTED[role])


def test_the_matrix_names_every_role_and_nothing_else() -> None:
    assert set(ROLE_PERMISSIONS) == set(Role)
    assert {r: set(p) for r, p in ROLE_PERMISSIONS.items()} == EXPECTED


def test_separation_of_duties() -> None:
    assert not allows(Role.ADMIN, P.REVIEW_AND_SIGN) and not allows(Role.ADMIN, P.AUDIT_TRAIL)
    assert not allows(Role.QA, P.MANAGE_USERS) and not allows(Role.QA, P.SHELVE)
    everything = set(Permission)
    assert all(set(perms) != everything for perms in ROLE_PERMISSIONS.values())


def test_a_token_role_is_within_its_owners() -> None:
    assert within(Role.TECHNICIAN, Role.SUPERVISOR) and within(Role.VIEWER, Role.QA)
    assert not within(Role.TECHNICIAN, Role.ADMIN) and not within(Role.SUPERVISOR, Role.QA)
    assert all(within(role, role) for role in Role)


def test_unknown_roles_hold_nothing_and_are_refused_by_name() -> None:
    assert not any(allows("root", p) for p in Permission)
    assert parse_role(" QA ") is Role.QA
    with pytest.raises(ValueError, match="roles: viewer, technician, supervisor, qa, admin"):
        parse_role("superuser")
