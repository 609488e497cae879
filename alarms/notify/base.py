"""What every notifier shares: the :class:`Notifier` protocol, its result and its error.

Alertmanager's split: a notifier tries once and says whether its failure is worth retrying
(:class:`NotifyError.retryable`); only the retry stage in :mod:`alarms.notify.delivery` retries,
and only the delivery decides to fall back to the person's next channel. Notifiers never log
or raise their secrets: error texts name the peer by host, never by a URL that holds a token.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from pydantic import BaseModel, ConfigDict, SecretStr, model_validator

from monitor.core.secrets import resolve_secret, secret_field_names, secrets_are_deferred

if TYPE_CHECKING:
    from alarms.notify.message import Notification
    from alarms.people import Person


@dataclass(frozen=True)
class DeliveryResult:
    """The provider accepted the notification; ``provider_id`` is its handle (a Twilio SID,
    an e-mail Message-ID, an outbox line) for tracing and for delivery-status callbacks."""

    provider_id: str | None
    ok: bool = True


class NotifyError(Exception):
    """One attempt failed.

    ``retryable``: the same request may succeed later (timeouts, 5xx, rate limits); a
    non-retryable error (invalid number, bad credentials, 4xx) goes straight to the next
    channel. ``outcome_unknown``: the request may have reached the provider anyway (a timeout
    after sending), so a retry is marked as a possible duplicate. ``recipient``: the failure is
    about this person (no phone number, an invalid or unsubscribed number, an address the mail
    server refuses), not the notifier, so the notifier watch does not count it against it.
    """

    def __init__(
        self,
        message: str,
        *,
        retryable: bool,
        outcome_unknown: bool = False,
        recipient: bool = False,
    ) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.outcome_unknown = outcome_unknown
        self.recipient = recipient


class Notifier(Protocol):
    """One configured channel (``sms``, ``phone``, ``ops-slack``, ``lab-horn``, ...)."""

    async def send(self, notification: Notification, target: Person) -> DeliveryResult:
        """Try once; raise :class:`NotifyError` on failure."""

    async def aclose(self) -> None:
        """Release connections and background tasks; idempotent."""


class NotifierSettings(BaseModel):
    """Base of every notifier's settings: strict keys, and secrets as ``x``/``x_env``/``x_file``.

    A subclass types each secret field as :data:`monitor.core.secrets.Secret` and declares its
    ``_env`` and ``_file`` twins (``str | None``); ``secret_fields`` is derived from the types,
    so a secret cannot be stored in clear by forgetting to list it. The ones that must be given
    go in ``required_secrets``. At most one of the three may be set, and the value is read when
    needed (a rotated file is picked up).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    secret_fields: ClassVar[tuple[str, ...]] = ()
    required_secrets: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        cls.secret_fields = secret_field_names(cls)
        fields = cls.model_fields
        for name in cls.secret_fields:
            missing = [t for t in (f"{name}_env", f"{name}_file") if t not in fields]
            if missing:
                raise TypeError(f"{cls.__name__}.{name} is a secret without {', '.join(missing)}")
        for name in cls.required_secrets:
            if name not in cls.secret_fields:
                raise TypeError(f"{cls.__name__}: required secret {name} is not typed Secret")

    @model_validator(mode="after")
    def _secrets_resolvable(self) -> NotifierSettings:
        for name in self.secret_fields:
            if not self.has_secret(name) and name in self.required_secrets:
                raise ValueError(f"set one of {name}, {name}_env or {name}_file")
        return self

    def has_secret(self, name: str) -> bool:
        """Whether the secret is configured (and, unless secrets are deferred, readable)."""
        value = self.secret(name)  # refuses two sources of one secret, deferred or not
        if secrets_are_deferred():
            return any(getattr(self, n) for n in (name, f"{name}_env", f"{name}_file"))
        return value is not None

    def secret(self, name: str) -> str | None:
        """The secret's value (from the file or environment variable if so configured)."""
        inline = getattr(self, name)
        if isinstance(inline, SecretStr):
            inline = inline.get_secret_value()
        env, file = getattr(self, f"{name}_env"), getattr(self, f"{name}_file")
        return resolve_secret(name, inline, env, file)

    def optional_secret(self, name: str) -> str | None:
        """The secret at send time, if configured; a file gone missing is a configuration
        error (not retryable)."""
        try:
            return self.secret(name)
        except ValueError as exc:  # names the key and the file, never the value
            raise NotifyError(str(exc), retryable=False) from None

    def required_secret(self, name: str) -> str:
        value = self.optional_secret(name)
        if not value:
            raise NotifyError(f"secret {name} is empty", retryable=False)
        return value
