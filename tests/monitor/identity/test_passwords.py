"""Password rules (length, the user id inside, reuse) and argon2 hashing."""

from __future__ import annotations

import asyncio

import pytest
from hypothesis import given
from hypothesis import strategies as st

from monitor.identity.passwords import (
    MAX_WORKERS,
    Hasher,
    PasswordRejected,
    check_rules,
    one_time_password,
)
from monitor.identity.settings import PasswordSettings
from tests.support.identity import cheap_hasher

SETTINGS = PasswordSettings()
USER_IDS = st.from_regex(r"[a-z0-9][a-z0-9._-]{1,20}", fullmatch=True)


@given(st.text(min_size=0, max_size=11))
def test_shorter_than_12_is_refused(password: str) -> None:
    with pytest.raises(PasswordRejected, match="at least 12"):
        check_rules(password, "someone", SETTINGS)


@given(USER_IDS, st.text(max_size=8), st.text(max_size=8), st.booleans())
def test_a_password_containing_the_user_id_is_refused_in_any_case(
    user_id: str, before: str, after: str, upper: bool
) -> None:
    password = before + (user_id.upper() if upper else user_id) + after + "x" * 12
    with pytest.raises(PasswordRejected, match="must not contain the user id"):
        check_rules(password, user_id, SETTINGS)


@given(st.text(alphabet=st.characters(codec="utf-8"), min_size=12, max_size=60))
def test_long_enough_without_the_user_id_is_accepted(password: str) -> None:
    user_id = "zz-not-in-it-zz"
    if user_id in password.casefold() or not password.strip():
        return
    check_rules(password, user_id, SETTINGS)


def test_the_minimum_length_cannot_be_configured_below_12() -> None:
    with pytest.raises(ValueError, match="greater than or equal to 12"):
        PasswordSettings(min_length=8)
    check_rules("a" * 16, "bob", PasswordSettings(min_length=16))
    with pytest.raises(PasswordRejected, match="at least 16"):
        check_rules("a" * 15, "bob", PasswordSettings(min_length=16))


async def test_hashes_are_argon2id_and_verify_only_the_password() -> None:
    hasher = cheap_hasher()
    try:
        encoded = await hasher.hash("correct horse battery")
        assert encoded.startswith("$argon2id$") and "correct" not in encoded
        assert await hasher.verify(encoded, "correct horse battery")
        assert not await hasher.verify(encoded, "correct horse batterY")
        assert not await hasher.verify(None, "correct horse battery")
        assert not await hasher.verify("not a hash", "correct horse battery")
        previous = [await hasher.hash(f"old password {n}") for n in range(3)]
        assert await hasher.reused("old password 1", previous)
        assert not await hasher.reused("old password 9", previous)
    finally:
        hasher.close()


async def test_hashing_runs_in_at_most_two_threads() -> None:
    with pytest.raises(ValueError):
        Hasher(workers=3)
    hasher = Hasher(time_cost=1, memory_kib=64, workers=MAX_WORKERS)
    try:
        results = await asyncio.gather(*(hasher.hash(f"password number {n}") for n in range(6)))
        assert len(set(results)) == 6
        assert hasher._pool._max_workers == 2
    finally:
        hasher.close()


def test_production_parameters_are_argon2id_64_mib() -> None:
    hasher = Hasher(workers=1)
    try:
        encoded = hasher.hash_sync("a long enough password")
        assert encoded.startswith("$argon2id$v=19$m=65536,t=2,p=1$")
    finally:
        hasher.close()


def test_one_time_passwords_are_random_and_long() -> None:
    seen = {one_time_password() for _ in range(50)}
    assert len(seen) == 50 and all(len(p) == 16 and p.isalnum() for p in seen)
