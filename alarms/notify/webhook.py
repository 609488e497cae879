"""A webhook: the notification as JSON to a URL, in coldwatch's own shape or for Slack or Teams.

Formats: ``json`` (coldwatch's generic document, for ticketing and home-made integrations),
``slack_text`` / ``slack_blocks`` (a Slack incoming webhook), ``teams_messagecard`` (an
Office 365 connector) / ``teams_adaptive`` (an Adaptive Card, for a Teams Workflows webhook).

The URL is a secret (a Slack or Teams webhook URL *is* the credential): it is configured as
``url``/``url_env``/``url_file`` and error texts name only its host. Headers are declared secret
or not: ``headers`` are sent and stored as written (a name that looks like a credential is
refused there), ``secret_headers`` are secrets like the URL (redacted in the stored
configuration, scrubbed from a peer's answer before it is recorded). 408, 425, 429 and 5xx
answers, timeouts and network errors are retryable; any other 4xx is not, nor is a redirect
or an untrusted certificate.
"""

from __future__ import annotations

import html
import json
import re
import ssl
from typing import Any, Literal
from urllib.parse import urlsplit

import aiohttp
from pydantic import Field, field_validator, model_validator

from alarms.notify.base import DeliveryResult, NotifierSettings, NotifyError
from alarms.notify.message import Notification
from alarms.notify.sms import flood_codes, reply_line
from alarms.people import Person
from monitor.core.durations import Duration
from monitor.core.secrets import REDACTED, Secret

Format = Literal["json", "slack_text", "slack_blocks", "teams_messagecard", "teams_adaptive"]
RETRYABLE_STATUS = frozenset({408, 425, 429})
SCHEMA_VERSION = 1
_HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,100}$")
#: A plain header whose name says it carries a credential belongs under ``secret_headers``.
_CREDENTIAL_WORDS = ("auth", "token", "secret", "key", "password", "signature", "cookie")
_MIN_SCRUBBED = 4  # a URL path of "/" is no secret, and scrubbing it would garble the text


class SecretHeader(NotifierSettings):
    """A header whose value is a secret, given like every other one: ``value``, ``value_env``
    or ``value_file`` (a plain string is taken as ``value``)."""

    required_secrets = ("value",)

    value: Secret | None = None
    value_env: str | None = None
    value_file: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _plain_string(cls, data: Any) -> Any:
        return {"value": data} if isinstance(data, str) else data


class WebhookSettings(NotifierSettings):
    required_secrets = ("url",)

    type: Literal["webhook"] = "webhook"
    url: Secret | None = None
    url_env: str | None = None
    url_file: str | None = None
    format: Format = "json"
    bearer_token: Secret | None = None
    bearer_token_env: str | None = None
    bearer_token_file: str | None = None
    headers: dict[str, str] = Field(default_factory=dict)
    """Extra headers that are not secrets: sent, and stored in the record, as written."""
    secret_headers: dict[str, SecretHeader] = Field(default_factory=dict)
    """Extra headers whose values are secrets (an API key, a signing secret)."""
    timeout: Duration = Field(default=10.0, gt=0, le=120)
    verify: bool = True
    ca_file: str | None = None

    @field_validator("headers")
    @classmethod
    def _plain_headers(cls, value: dict[str, str]) -> dict[str, str]:
        for name in value:
            if any(word in name.lower() for word in _CREDENTIAL_WORDS):
                raise ValueError(
                    f"header '{name}' looks like a credential: put it under secret_headers, "
                    "whose values are secrets (redacted in the record)"
                )
        return value

    @model_validator(mode="after")
    def _header_names(self) -> WebhookSettings:
        names = [*self.headers, *self.secret_headers]
        if self.has_secret("bearer_token"):
            names.append("Authorization")
        for name in names:
            if not _HEADER_NAME.match(name):
                raise ValueError(f"'{name}' is not a valid HTTP header name")
        lowered = [n.lower() for n in names]
        if len(set(lowered)) != len(lowered):
            raise ValueError("a header is given twice (headers, secret_headers, bearer_token)")
        return self

    def secret_values(self) -> list[str]:
        """Every secret this notifier sends, to scrub from what a peer answers."""
        url = self.optional_secret("url") or ""
        split = urlsplit(url)
        values = [url, split.path, split.query, self.optional_secret("bearer_token")]
        values += [h.optional_secret("value") for h in self.secret_headers.values()]
        return [v for v in values if v and len(v) >= _MIN_SCRUBBED]


class WebhookNotifier:
    def __init__(self, name: str, settings: WebhookSettings) -> None:
        self.name = name
        self.settings = settings
        self._session: aiohttp.ClientSession | None = None

    def payload(self, notification: Notification, target: Person) -> dict[str, Any]:
        return render(self.settings.format, notification, target)

    async def send(self, notification: Notification, target: Person) -> DeliveryResult:
        s = self.settings
        url = s.required_secret("url")
        host = urlsplit(url).hostname or "the webhook"
        headers = {"Content-Type": "application/json", **s.headers}
        for name, header in s.secret_headers.items():
            headers[name] = header.required_secret("value")
        token = s.optional_secret("bearer_token")
        if token:
            headers["Authorization"] = f"Bearer {token}"
        data = json.dumps(self.payload(notification, target), ensure_ascii=False).encode()
        try:
            async with self._client().post(
                url,
                data=data,
                headers=headers,
                timeout=aiohttp.ClientTimeout(total=s.timeout),
                ssl=self._ssl(),
                allow_redirects=False,
            ) as response:
                text = (await response.text(errors="replace"))[:4096]
                status = response.status
                request_id = response.headers.get("X-Request-Id") or response.headers.get(
                    "X-Slack-Req-Id"
                )
        except TimeoutError:
            raise NotifyError(
                f"{host} did not answer in {s.timeout:g} s", retryable=True, outcome_unknown=True
            ) from None
        except aiohttp.ClientConnectorCertificateError:
            raise NotifyError(f"TLS certificate of {host} not trusted", retryable=False) from None
        except aiohttp.ClientConnectorError as exc:
            raise NotifyError(f"cannot connect to {host}: {exc.os_error}", retryable=True) from None
        except aiohttp.InvalidURL:
            raise NotifyError("the webhook URL is not valid", retryable=False) from None
        except aiohttp.ClientError as exc:
            raise NotifyError(
                f"request to {host} failed: {type(exc).__name__}",
                retryable=True,
                outcome_unknown=True,
            ) from None
        if 200 <= status < 300:
            return DeliveryResult(request_id or f"http-{status}")
        retryable = status >= 500 or status in RETRYABLE_STATUS
        answer = scrub(text, s.secret_values()).strip()[:200]
        raise NotifyError(f"{host} answered HTTP {status}: {answer}", retryable=retryable)

    async def aclose(self) -> None:
        session, self._session = self._session, None
        if session is not None:
            await session.close()

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession()
        return self._session

    def _ssl(self) -> ssl.SSLContext | bool:
        if not self.settings.verify:
            return False
        if self.settings.ca_file:
            return ssl.create_default_context(cafile=self.settings.ca_file)
        return True


def scrub(text: str, secrets: list[str]) -> str:
    """``text`` (a peer's answer, recorded in the notification log) without any of ``secrets``
    (a peer may echo the URL or a header it refuses)."""
    for secret in sorted(secrets, key=len, reverse=True):
        text = text.replace(secret, REDACTED)
    return text


# --- formats -----------------------------------------------------------------------------


def render(fmt: Format, n: Notification, target: Person) -> dict[str, Any]:
    """The JSON document of ``fmt`` for ``n``."""
    if fmt == "json":
        return generic(n, target)
    if fmt == "slack_text":
        return slack_text(n)
    if fmt == "slack_blocks":
        return slack_blocks(n)
    if fmt == "teams_messagecard":
        return teams_messagecard(n)
    return teams_adaptive(n)


def facts(n: Notification) -> list[tuple[str, str]]:
    """The (name, value) rows every card shows."""
    rows = [("Equipment", n.equipment)]
    if n.site:
        rows.append(("Site", n.site))
    if n.channel:
        rows.append(("Channel", n.channel))
    condition = f" ({n.condition})" if n.condition else ""
    if n.shape == "limit":
        rows += [("Value", n.reading_text()), ("Limit", n.limit_text() + condition)]
    else:  # no limit to show: what is wrong, in the alarm's own words
        rows.append(("Problem", n.headline()))
        if n.shape == "state" and n.value is not None:
            rows.append(("Value", n.reading_text()))
    rows += [
        ("Priority", n.priority),
        ("State", f"{n.state}, tier {n.tier}"),
        ("Time", f"{n.local_text()} ({n.utc_text()})"),
    ]
    if n.kind == "acknowledged":
        rows.append(("Acknowledged by", n.acknowledged_by or "unknown"))
    elif n.kind == "silenced":
        rows.append((f"{n.title.capitalize()} by", n.acknowledged_by or "coldwatch (by design)"))
    if n.kind in ("acknowledged", "silenced") and n.comment:
        rows.append(("Comment", n.comment))
    return rows


def ack_hint(n: Notification) -> str:
    reply = reply_line(flood_codes(n) or (n.alarm_id,))
    return f"Acknowledge: reply {reply} to the SMS, or press 1 on the call"


def generic(n: Notification, target: Person) -> dict[str, Any]:
    return {
        "version": SCHEMA_VERSION,
        "source": "coldwatch",
        "key": n.key,
        "summary": n.summary(),
        "local_time": n.local_text(),
        "recipient": {"id": target.id, "name": target.name},
        "notification": n.model_dump(mode="json"),
    }


def _slack_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_text(n: Notification) -> dict[str, Any]:
    lines = [f"*{_slack_escape(n.summary())}*"]
    lines.append(_slack_escape(f"{n.local_text()} ({n.utc_text()})"))
    if n.sop:
        lines.append(f"SOP: {_slack_escape(n.sop_first_sentence())}")
    if n.needs_ack:
        lines.append(_slack_escape(ack_hint(n)))
    return {"text": "\n".join(lines)}


def slack_blocks(n: Notification) -> dict[str, Any]:
    header = f"{n.alarm_id} {n.priority.upper()} {n.title}: {n.equipment}"
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": header[:150], "emoji": False}},
        {
            "type": "section",
            "fields": [
                {"type": "mrkdwn", "text": f"*{name}*\n{_slack_escape(value)}"}
                for name, value in facts(n)[:10]  # Slack allows ten fields
            ],
        },
    ]
    if n.sop:
        text = f"*SOP:* {_slack_escape(n.sop)}"[:3000]
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": text}})
    notes = []
    if n.possible_duplicate:
        notes.append("May repeat an earlier message.")
    if n.late:
        notes.append("Late: the event happened earlier.")
    if n.needs_ack:
        notes.append(ack_hint(n))
    if notes:
        elements = [{"type": "mrkdwn", "text": _slack_escape(" ".join(notes))}]
        blocks.append({"type": "context", "elements": elements})
    return {"text": n.summary(), "blocks": blocks}


def _colour(n: Notification) -> tuple[str, str]:
    """(hex for MessageCard, Adaptive Card colour name)."""
    if not n.active:
        return "2DC72D", "Good"
    if n.priority.lower() in ("critical", "urgent", "high"):
        return "D70000", "Attention"
    return "FFA500", "Warning"


def teams_messagecard(n: Notification) -> dict[str, Any]:
    """Connector cards render a subset of HTML: ``<PIN>`` would vanish unless escaped."""
    section: dict[str, Any] = {
        "facts": [{"name": k, "value": html.escape(v, quote=False)} for k, v in facts(n)]
    }
    if n.sop:
        section["text"] = html.escape(f"SOP: {n.sop}", quote=False)
    sections = [section]
    if n.needs_ack:
        sections.append({"text": html.escape(ack_hint(n), quote=False)})
    return {
        "@type": "MessageCard",
        "@context": "https://schema.org/extensions",
        "summary": n.summary(),
        "themeColor": _colour(n)[0],
        "title": html.escape(n.summary(), quote=False),
        "sections": sections,
    }


def teams_adaptive(n: Notification) -> dict[str, Any]:
    body: list[dict[str, Any]] = [
        {
            "type": "TextBlock",
            "text": n.summary(),
            "weight": "Bolder",
            "size": "Medium",
            "color": _colour(n)[1],
            "wrap": True,
        },
        {"type": "FactSet", "facts": [{"title": k, "value": v} for k, v in facts(n)]},
    ]
    if n.sop:
        body.append({"type": "TextBlock", "text": f"SOP: {n.sop}", "wrap": True})
    if n.needs_ack:
        body.append({"type": "TextBlock", "text": ack_hint(n), "wrap": True, "isSubtle": True})
    return {
        "type": "message",
        "attachments": [
            {
                "contentType": "application/vnd.microsoft.card.adaptive",
                "contentUrl": None,
                "content": {
                    "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                    "type": "AdaptiveCard",
                    "version": "1.4",
                    "body": body,
                },
            }
        ],
    }
