"""Who calls the HTTP API: the person whose configured token the request presents.

Every token is read at each request (a rotated file is picked up) and compared in constant
time against the one presented, all of them every time (no early exit that would tell how
far down the list a token is). A token that cannot be read is skipped, and logged; one that
matches two people is refused (whom would it prove?). Never logged, never recorded.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from alarms.ack.config import MIN_TOKEN_LENGTH, HttpToken
from alarms.ack.refusals import Reason
from monitor.core.logs import RateLimiter

log = logging.getLogger("alarms.ack")

MAX_TOKEN = 4096


@dataclass(frozen=True, slots=True)
class TokenSource:
    """``read()`` returns the token of ``person`` now (ValueError when it cannot be had)."""

    person: str
    read: Callable[[], str | None]


@dataclass(frozen=True, slots=True)
class TokenCheck:
    """The proven person, or why not (``reason``, ``detail``)."""

    person: str | None
    reason: Reason | None = None
    detail: str = ""


class TokenTable:
    def __init__(self, sources: Sequence[TokenSource]) -> None:
        if not sources:
            raise ValueError(
                "the HTTP API is off unless tokens are configured (tokens: [{person, token_file}])"
            )
        self.sources = tuple(sources)
        self._complaints = RateLimiter(60.0)

    @classmethod
    def of(cls, tokens: Sequence[HttpToken]) -> TokenTable:
        return cls([TokenSource(t.person, _reader(t)) for t in tokens])

    def check(self, authorization: str | None) -> TokenCheck:
        """The person an ``Authorization: Bearer <token>`` header proves."""
        scheme, _, given = (authorization or "").partition(" ")
        presented = given.strip().encode("utf-8", "replace")
        if scheme.lower() != "bearer" or not presented or len(presented) > MAX_TOKEN:
            return TokenCheck(None, Reason.BAD_TOKEN, "a bearer token is required")
        readable = 0
        matched: set[str] = set()
        for source in self.sources:
            expected = self._read(source)
            if expected is None:
                continue
            readable += 1
            if hmac.compare_digest(presented, expected.encode()):
                matched.add(source.person)
        if not readable:
            return TokenCheck(None, Reason.UNAVAILABLE, "no API token can be read")
        if len(matched) > 1:
            log.error("one HTTP API token is configured for %s", ", ".join(sorted(matched)))
            return TokenCheck(
                None, Reason.UNAVAILABLE, "the token is configured for several people"
            )
        if not matched:
            return TokenCheck(None, Reason.BAD_TOKEN, "the bearer token is not valid")
        return TokenCheck(matched.pop())

    def _read(self, source: TokenSource) -> str | None:
        try:
            value = source.read()
        except ValueError as exc:  # names the key and the file, never the value
            self._complain(source.person, str(exc))
            return None
        if not value or len(value) < MIN_TOKEN_LENGTH:
            self._complain(source.person, f"shorter than {MIN_TOKEN_LENGTH} characters")
            return None
        return value

    def _complain(self, person: str, why: str) -> None:
        allowed, suppressed = self._complaints.allow(person)
        if allowed:
            more = f" ({suppressed} more not logged)" if suppressed else ""
            log.error("the HTTP API token of %s cannot be used: %s%s", person, why, more)


def _reader(token: HttpToken) -> Callable[[], str | None]:
    return lambda: token.secret("token")
