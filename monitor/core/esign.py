"""An electronic signature as the records carry it (21 CFR Part 11), and its manifestation.

:class:`Signature` is what the signing service (``monitor.identity.signing``) produces once it
has checked the signer's credentials, and what a signed alarm command hands to the alarm
engine: the engine puts it into the alarm history row it writes (``data["signature"]``), and
the store writes the signature row bound to that row's hash in the same transaction
(:mod:`monitor.store.sqlite_signatures`). It holds no secret.

:func:`manifestation` is the one text every display and printout of a signed record shows
(11.50): the signer's printed name, the date and time of signing in UTC and in the site's
zone, and the meaning.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from typing import Any, Final, Literal

Credentials = Literal["user_id_and_password", "password"]
"""How the signer identified: user id and password (the first signing of a continuous
session), or the password alone (a later one in the same session), 11.200(a)(1)."""

#: The signed actions, and the alarm history action each one's record carries.
RECORD_ACTION: Final[Mapping[str, str]] = {
    "acknowledge": "acknowledged",
    "shelve": "shelved",
    "out_of_service": "out_of_service",
    "return_to_service": "returned_to_service",
    "reset": "reset",
}
#: Actions that are signed but are not alarm commands (their records come later).
OTHER_ACTIONS: Final = ("report_approval",)
SIGNED_ACTIONS: Final = (*RECORD_ACTION, *OTHER_ACTIONS)
MAX_COMMENT: Final = 1000


@dataclass(frozen=True, slots=True)
class Signature:
    """One applied signature: who (``user_id``; ``printed_name`` frozen at signing), what it
    means (``meaning``, from the action's closed list) and why (``comment``), when
    (``signed_at``, the server clock in UTC; ``clock_synchronised``: its NTP state then, None
    when unknown), how the signer identified (``credentials``), in which session, for which
    ``action``."""

    user_id: str
    printed_name: str
    meaning: str
    comment: str
    action: str
    signed_at: datetime
    credentials: Credentials
    session_id: str | None = None
    clock_synchronised: bool | None = None

    def __post_init__(self) -> None:
        if self.signed_at.tzinfo is None:
            raise ValueError("a signature's time needs its time zone (UTC)")
        if self.action not in SIGNED_ACTIONS:
            raise ValueError(f"{self.action!r} is not a signed action")
        if self.credentials not in ("user_id_and_password", "password"):
            raise ValueError(f"unknown credentials {self.credentials!r}")
        for name in ("user_id", "printed_name", "meaning", "comment"):
            if not str(getattr(self, name)).strip():
                raise ValueError(f"a signature needs its {name}")

    def to_json(self) -> dict[str, Any]:
        """What the signed record carries (``data["signature"]``): JSON-ready, no secret."""
        out: dict[str, Any] = {
            "user_id": self.user_id,
            "printed_name": self.printed_name,
            "meaning": self.meaning,
            "comment": self.comment,
            "action": self.action,
            "signed_at": self.signed_at.astimezone(UTC).isoformat(),
            "credentials": self.credentials,
        }
        if self.session_id is not None:
            out["session_id"] = self.session_id
        if self.clock_synchronised is not None:
            out["clock_synchronised"] = self.clock_synchronised
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Signature:
        """Raises ValueError (or TypeError, KeyError) for anything :meth:`to_json` never made."""
        sync = data.get("clock_synchronised")
        session = data.get("session_id")
        return cls(
            user_id=_text(data, "user_id"),
            printed_name=_text(data, "printed_name"),
            meaning=_text(data, "meaning"),
            comment=_text(data, "comment"),
            action=_text(data, "action"),
            signed_at=datetime.fromisoformat(_text(data, "signed_at")),
            credentials=data["credentials"],
            session_id=session if isinstance(session, str) else None,
            clock_synchronised=sync if isinstance(sync, bool) else None,
        )


def _text(data: Mapping[str, Any], key: str) -> str:
    value = data[key]
    if not isinstance(value, str):
        raise TypeError(f"signature {key} must be text")
    return value


def manifestation(signature: Signature, zone: tzinfo | None = None) -> str:
    """The signature as every display and printout of the signed record shows it (21 CFR
    11.50): printed name, date and time in UTC and in the site's ``zone``, and the meaning.

    ``Signed by Dana Reyes on 2026-03-29 00:30:00 UTC (2026-03-29 01:30:00 CET):
    Acknowledged: product checked and safe``"""
    utc = signature.signed_at.astimezone(UTC)
    text = f"Signed by {signature.printed_name} on {utc:%Y-%m-%d %H:%M:%S} UTC"
    if zone is not None:
        local = utc.astimezone(zone)
        text += f" ({local:%Y-%m-%d %H:%M:%S} {local.tzname() or local.strftime('%z')})"
    return f"{text}: {signature.meaning}"


def signature_of(data: Mapping[str, Any]) -> Signature | None:
    """The signature a record's data carries, or None (also for one unreadable: verify says
    why)."""
    found = data.get("signature")
    if not isinstance(found, Mapping):
        return None
    try:
        return Signature.from_json(found)
    except (ValueError, TypeError, KeyError):
        return None
