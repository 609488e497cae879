"""What the Twilio SMS and voice notifiers share: account settings, the client, error mapping.

The twilio 9 library talks asynchronously through an ``AsyncHttpClient`` (by default
``AsyncTwilioHttpClient``, on aiohttp), passed as ``Client(..., http_client=...)``; it is
made lazily inside the event loop (it opens an aiohttp session) and closed by ``aclose``.
Tests hand in their own ``AsyncHttpClient`` at exactly that boundary.

Errors: Twilio answers a rejected request with an HTTP status and its own error code. Rate
limits (HTTP 429, code 20429) and server errors are worth retrying; a bad number (21211), an
unsubscribed recipient (21610), bad credentials (20003) or any other 4xx is not, and the
delivery falls back to the person's next channel at once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

import aiohttp
from pydantic import Field, field_validator
from twilio.base.exceptions import (
    TwilioException,
    TwilioRestException,
    TwilioServiceException,
)
from twilio.http import AsyncHttpClient
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.rest import Client

from alarms.notify.base import NotifierSettings, NotifyError
from monitor.core.durations import Duration
from monitor.core.secrets import Secret

#: Twilio error codes a retry may get past (rate limits, Twilio's own trouble).
RETRYABLE_CODES = frozenset({20429, 20500, 20503, 14107, 30001})
#: Codes that a retry never fixes (listed for the documentation; any other 4xx is the same).
PERMANENT_CODES = frozenset(
    {20003, 20404, 21211, 21212, 21214, 21217, 21401, 21408, 21606, 21610, 21612, 21614, 13224}
)

#: Codes about the number paged (invalid, not a mobile, unsubscribed, unreachable), not about
#: the account or Twilio: they do not count against the notifier (``NotifyError.recipient``).
RECIPIENT_CODES = frozenset({21211, 21214, 21217, 21401, 21610, 21612, 21614})

E164 = r"^\+[1-9][0-9]{6,14}$"

HttpClientFactory = Callable[[float], AsyncHttpClient]


class TwilioSettings(NotifierSettings):
    """The account and the public address where Twilio reaches coldwatch back."""

    required_secrets = ("auth_token",)

    account_sid: str = Field(pattern=r"^AC[0-9a-fA-F]{32}$")
    auth_token: Secret | None = None
    auth_token_env: str | None = None
    auth_token_file: str | None = None
    public_base_url: str | None = None
    """``https://coldwatch.example.org``: status and gather callbacks go under it."""
    timeout: Duration = Field(default=15.0, gt=0, le=120)
    """HTTP timeout of one request to Twilio."""
    region: str | None = None
    edge: str | None = None

    @field_validator("public_base_url")
    @classmethod
    def _base(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not value.startswith(("https://", "http://")) or " " in value:
            raise ValueError("public_base_url must be an http(s) URL reachable by Twilio")
        return value.rstrip("/")

    def callback(self, path: str, **query: str) -> str | None:
        """An absolute callback URL under ``public_base_url``, or None without one."""
        if self.public_base_url is None:
            return None
        return f"{self.public_base_url}{path}?{urlencode(query)}"


class TwilioClient:
    """A lazily built ``twilio.rest.Client`` on an async HTTP client."""

    def __init__(self, settings: TwilioSettings, http_client: HttpClientFactory | None) -> None:
        self.settings = settings
        self._factory = http_client
        self._http: AsyncHttpClient | None = None
        self._client: Any = None

    def get(self) -> Any:
        if self._client is None:
            if self._factory is not None:
                self._http = self._factory(self.settings.timeout)
            else:
                self._http = AsyncTwilioHttpClient(
                    timeout=self.settings.timeout, logger=logging.getLogger("twilio.http")
                )
            self._client = Client(
                self.settings.account_sid,
                self.settings.required_secret("auth_token"),
                http_client=self._http,
                region=self.settings.region,
                edge=self.settings.edge,
            )
        return self._client

    async def aclose(self) -> None:
        http, self._http, self._client = self._http, None, None
        if isinstance(http, AsyncTwilioHttpClient):
            await http.close()


def classify(exc: BaseException) -> NotifyError:
    """A Twilio or network failure as a :class:`NotifyError` (retryable or not)."""
    if isinstance(exc, TwilioRestException | TwilioServiceException):
        status, code = int(exc.status), exc.code
        text = exc.msg if isinstance(exc, TwilioRestException) else (exc.detail or exc.title)
        text = str(text).removeprefix("Unable to create record: ")
        retryable = code in RETRYABLE_CODES or status == 429 or status >= 500
        if code in PERMANENT_CODES:
            retryable = False
        return NotifyError(
            f"Twilio HTTP {status}, error {code}: {text}",
            retryable=retryable,
            recipient=code in RECIPIENT_CODES,
        )
    if isinstance(exc, TimeoutError):
        return NotifyError("Twilio did not answer in time", retryable=True, outcome_unknown=True)
    if isinstance(exc, aiohttp.ClientConnectorError):
        return NotifyError(f"cannot connect to Twilio: {exc.os_error}", retryable=True)
    if isinstance(exc, aiohttp.ClientError):
        return NotifyError(
            f"Twilio request failed: {type(exc).__name__}", retryable=True, outcome_unknown=True
        )
    return NotifyError(f"Twilio client error: {type(exc).__name__}", retryable=False)


#: What a Twilio notifier catches around a request and hands to :func:`classify`.
TWILIO_FAILURES: tuple[type[BaseException], ...] = (
    TwilioException,
    aiohttp.ClientError,
    TimeoutError,
)
