"""Settings of sign-in, passwords, sessions and signatures (``web.session``, ``web.lockout``,
``web.password``, ``web.signatures`` in the configuration), with the defaults Part 11 practice
expects."""

from __future__ import annotations

from typing import Annotated, Final

from pydantic import BeforeValidator, Field, field_validator, model_validator

from monitor.config.sections import Strict
from monitor.core.durations import parse_duration
from monitor.core.esign import SIGNED_ACTIONS

Seconds = Annotated[float, BeforeValidator(parse_duration)]


class SessionSettings(Strict):
    """A web session ends after ``idle_timeout`` without a request, and ``absolute_timeout``
    after sign-in whatever happens."""

    idle_timeout: Seconds = Field(default=15 * 60.0, gt=0)
    absolute_timeout: Seconds = Field(default=12 * 3600.0, gt=0)

    @model_validator(mode="after")
    def _idle_within_absolute(self) -> SessionSettings:
        if self.idle_timeout > self.absolute_timeout:
            raise ValueError("idle_timeout cannot be longer than absolute_timeout")
        return self


class LockoutSettings(Strict):
    """``attempts`` failed sign-ins in a row lock the account for ``duration``."""

    attempts: int = Field(default=5, ge=1, le=100)
    duration: Seconds = Field(default=15 * 60.0, gt=0)


class PasswordSettings(Strict):
    min_length: int = Field(default=12, ge=12, le=1024)
    """Never below 12."""
    expiry: Seconds = Field(default=90 * 86400.0, gt=0)
    history: int = Field(default=5, ge=1, le=50)
    """How many of the user's newest passwords may not be chosen again."""
    one_time_expiry: Seconds = Field(default=72 * 3600.0, gt=0)
    """How long a one-time password from ``coldwatch user reset-password`` stays usable."""


#: The meanings a signer may choose from, per signed action, when the configuration names none.
DEFAULT_MEANINGS: Final[dict[str, tuple[str, ...]]] = {
    "acknowledge": (
        "Acknowledged: I have read the alarm and act on it",
        "Acknowledged: product checked and safe",
        "Acknowledged: product moved to a backup unit",
    ),
    "shelve": ("Shelved: the cause is known and being dealt with",),
    "out_of_service": ("Out of service: maintenance under a work order",),
    "return_to_service": ("Returned to service: maintenance done and the unit checked",),
    "reset": ("Reset: the cause was found and corrected",),
    "report_approval": (
        "Approved: I have reviewed this report and approve it",
        "Reviewed: I have read this report",
    ),
}
MAX_MEANING = 200


class SignatureSettings(Strict):
    """``web.signatures``: the closed list of meanings a signer chooses from, per action
    (acknowledge, shelve, out_of_service, return_to_service, reset, report_approval). An
    action the configuration does not name keeps its default list."""

    meanings: dict[str, list[str]] = Field(default_factory=dict)

    @field_validator("meanings")
    @classmethod
    def _closed_lists(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        for action, meanings in value.items():
            if action not in SIGNED_ACTIONS:
                raise ValueError(
                    f"{action!r} is not a signed action (one of {', '.join(SIGNED_ACTIONS)})"
                )
            cleaned = [m.strip() for m in meanings]
            if not cleaned or any(not m or len(m) > MAX_MEANING for m in cleaned):
                raise ValueError(
                    f"{action}: a list of meanings, each 1 to {MAX_MEANING} characters"
                )
            if len(set(cleaned)) != len(cleaned):
                raise ValueError(f"{action}: a meaning is listed twice")
            value[action] = cleaned
        return value

    def of(self, action: str) -> tuple[str, ...]:
        """The meanings of ``action``; none for an action that is not signed."""
        if action in self.meanings:
            return tuple(self.meanings[action])
        return DEFAULT_MEANINGS.get(action, ())
