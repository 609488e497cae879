"""Passwords: the rules a new one must meet, and argon2id hashing off the event loop.

One verification costs about 100 ms of CPU and 64 MiB (argon2id, time cost 2, 64 MiB, one
lane: measured at 75-110 ms on a loaded 2-core server). It runs in a pool of at most two
threads so that a burst of sign-ins (or an attacker) queues there instead of taking every
core from the monitoring; argon2-cffi releases the GIL while it hashes.
"""

from __future__ import annotations

import asyncio
import secrets
import string
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Final

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from monitor.identity.settings import PasswordSettings

TIME_COST: Final = 2
MEMORY_KIB: Final = 64 * 1024
PARALLELISM: Final = 1
MAX_WORKERS: Final = 2
MAX_LENGTH: Final = 1024
"""Longer passwords are refused: hashing a megabyte on every attempt is a denial of service."""

THREAD_PREFIX: Final = "argon2"

ONE_TIME_ALPHABET: Final = string.ascii_letters + string.digits
ONE_TIME_LENGTH: Final = 16


class PasswordRejected(ValueError):
    """A new password breaks a rule; the message says which (never the password)."""


def check_rules(
    password: str,
    user_id: str,
    settings: PasswordSettings,
) -> None:
    """Raise :class:`PasswordRejected` unless ``password`` is long enough and does not
    contain the user id (case-insensitive). Reuse is checked by :meth:`Hasher.reused`."""
    if len(password) < settings.min_length:
        raise PasswordRejected(f"a password needs at least {settings.min_length} characters")
    if len(password) > MAX_LENGTH:
        raise PasswordRejected(f"a password has at most {MAX_LENGTH} characters")
    if user_id and user_id.casefold() in password.casefold():
        raise PasswordRejected("a password must not contain the user id")
    if not password.strip():
        raise PasswordRejected("a password cannot be only spaces")


def one_time_password() -> str:
    """A random one-time password (16 letters and digits, about 95 bits)."""
    return "".join(secrets.choice(ONE_TIME_ALPHABET) for _ in range(ONE_TIME_LENGTH))


class Hasher:
    """argon2id hashes, computed in a pool of at most :data:`MAX_WORKERS` threads.

    ``close()`` ends the pool."""

    def __init__(
        self,
        *,
        time_cost: int = TIME_COST,
        memory_kib: int = MEMORY_KIB,
        parallelism: int = PARALLELISM,
        workers: int = MAX_WORKERS,
    ) -> None:
        if not 1 <= workers <= MAX_WORKERS:
            raise ValueError(f"at most {MAX_WORKERS} hashing threads")
        self._argon2 = PasswordHasher(
            time_cost=time_cost, memory_cost=memory_kib, parallelism=parallelism
        )
        self._workers = workers
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix=THREAD_PREFIX)
        # a hash to verify against when the user id names nobody: the same cost either way,
        # so the time taken does not say whether the user exists
        self._decoy = self._pool.submit(self._argon2.hash, secrets.token_urlsafe(24)).result()

    @property
    def max_workers(self) -> int:
        """How many hashes may run at once (the pool's bound)."""
        return self._workers

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)

    def hash_sync(self, password: str) -> str:
        """Hash in the calling thread: only for the pool's own threads (:meth:`hash`,
        :meth:`hash_blocking`)."""
        return self._argon2.hash(password)

    def hash_blocking(self, password: str) -> str:
        """Hash in the pool and wait for it: for code that runs in a worker thread (the
        control socket's user commands, the users pages), never on the event loop. However
        many threads call it, at most :data:`MAX_WORKERS` hashes run at once."""
        return self._pool.submit(self.hash_sync, password).result()

    def verify_sync(self, encoded: str | None, password: str) -> bool:
        """Whether ``password`` matches ``encoded``; a missing or unreadable hash matches
        nothing (and costs as much as a real one)."""
        if len(password) > MAX_LENGTH:
            return False
        try:
            return self._argon2.verify(encoded or self._decoy, password) and encoded is not None
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    async def hash(self, password: str) -> str:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, self.hash_sync, password)

    async def verify(self, encoded: str | None, password: str) -> bool:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, self.verify_sync, encoded, password)

    async def reused(self, password: str, previous: Sequence[str]) -> bool:
        """Whether ``password`` is one of ``previous`` (the newest hashes, newest first)."""
        for encoded in previous:
            if await self.verify(encoded, password):
                return True
        return False

    def reused_blocking(self, password: str, previous: Sequence[str]) -> bool:
        """:meth:`reused` for a worker thread: each verification in the pool, waited for."""
        return any(
            self._pool.submit(self.verify_sync, encoded, password).result() for encoded in previous
        )
