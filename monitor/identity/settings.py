"""Settings of sign-in, passwords and sessions (``web.session``, ``web.lockout``,
``web.password`` in the configuration), with the defaults Part 11 practice expects."""

from __future__ import annotations

from typing import Annotated

from pydantic import BeforeValidator, Field, model_validator

from monitor.config.sections import Strict
from monitor.core.durations import parse_duration

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
