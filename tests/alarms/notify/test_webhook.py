"""The webhook against a real aiohttp server on loopback: the exact JSON of each format,
headers, which answers are retryable, timeouts, redirects and TLS trust."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web

from alarms.notify.base import NotifyError
from alarms.notify.webhook import WebhookNotifier, WebhookSettings
from tests.support.notify import Tls, make_tls, notification, person
from tests.support.ports import ClosedPorts

SOP = "Move material to ULT-07 <now> & call QA. Then log it."
SUMMARY = (
    "A1007 CRITICAL ALARM: ULT-03 -80 freezer, chamber temperature -61.5 °C above high limit -65 °C"
)
TIME = "2026-03-01 03:12:05 CET (2026-03-01 02:12:05 UTC)"
FACTS = [
    ("Equipment", "ULT-03 -80 freezer"),
    ("Site", "Berlin cell lab"),
    ("Channel", "chamber temperature"),
    ("Value", "-61.5 °C"),
    ("Limit", "-65 °C (high)"),
    ("Priority", "critical"),
    ("State", "UNACK, tier 1"),
    ("Time", TIME),
]
ACK = "Acknowledge: reply ACK A1007 <PIN> <comment> to the SMS, or press 1 on the call"


@dataclass
class Hook:
    """A webhook receiver: records requests; ``/status/<n>`` answers n, ``/slow`` hangs."""

    port: int
    received: list[tuple[str, dict[str, str], Any]] = field(default_factory=list)
    release: asyncio.Event = field(default_factory=asyncio.Event)
    scheme: str = "http"

    def url(self, path: str = "/hook") -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}{path}"

    async def handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        self.received.append((request.path, dict(request.headers), json.loads(body)))
        if request.path.startswith("/status/"):
            status = int(request.path.split("/")[2])
            return web.Response(status=status, text="invalid_token" if status < 500 else "oops")
        if request.path == "/slow":
            await self.release.wait()
        if request.path == "/redirect":
            raise web.HTTPFound("/hook")
        return web.Response(text="ok", headers={"X-Request-Id": f"req-{len(self.received)}"})


async def _serve(tls: Tls | None = None) -> AsyncIterator[Hook]:
    hook = Hook(0, scheme="https" if tls else "http")
    app = web.Application()
    app.router.add_post("/{tail:.*}", hook.handle)
    runner = web.AppRunner(app, shutdown_timeout=1.0)
    await runner.setup()
    site = web.TCPSite(
        runner, "127.0.0.1", hook.port, ssl_context=tls.server_context() if tls else None
    )
    await site.start()
    hook.port = int(runner.addresses[0][1])  # port 0: the one the OS picked
    try:
        yield hook
    finally:
        hook.release.set()
        await runner.cleanup()


@pytest.fixture
async def hook() -> AsyncIterator[Hook]:
    async for h in _serve():
        yield h


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> Tls:
    return make_tls(tmp_path_factory.mktemp("tls"))


@pytest.fixture
async def https_hook(tls: Tls) -> AsyncIterator[Hook]:
    async for h in _serve(tls):
        yield h


@pytest.fixture
async def notifiers() -> AsyncIterator[list[WebhookNotifier]]:
    made: list[WebhookNotifier] = []
    yield made
    for notifier in made:
        await notifier.aclose()


def make(made: list[WebhookNotifier], url: str, **settings: Any) -> WebhookNotifier:
    notifier = WebhookNotifier("hook", WebhookSettings(url=url, **settings))
    made.append(notifier)
    return notifier


async def post(hook: Hook, made: list[WebhookNotifier], fmt: str) -> Any:
    notifier = make(made, hook.url(), format=fmt)
    result = await notifier.send(notification(sop=SOP), person())
    assert result.provider_id == f"req-{len(hook.received)}"
    path, headers, body = hook.received[-1]
    assert path == "/hook"
    assert headers["Content-Type"] == "application/json"
    return body


async def test_generic_json(hook: Hook, notifiers: list[WebhookNotifier]) -> None:
    assert await post(hook, notifiers, "json") == {
        "version": 1,
        "source": "coldwatch",
        "key": "A1007/raised/t1/20260301T021205.000000Z",
        "summary": SUMMARY,
        "local_time": "2026-03-01 03:12:05 CET",
        "recipient": {"id": "alice", "name": "Alice Meyer"},
        "notification": {
            "alarm_id": "A1007",
            "kind": "raised",
            "equipment": "ULT-03 -80 freezer",
            "channel": "chamber temperature",
            "value": -61.5,
            "unit": "°C",
            "limit": -65.0,
            "condition": "high",
            "priority": "critical",
            "state": "UNACK",
            "tier": 1,
            "sop": SOP,
            "raised_at": "2026-03-01T02:12:05Z",
            "event_at": "2026-03-01T02:12:05Z",
            "timezone": "Europe/Berlin",
            "late": False,
            "possible_duplicate": False,
            "acknowledged_by": None,
            "comment": None,
            "site": "Berlin cell lab",
            "event_id": None,
            "shape": "limit",
            "source": "",
            "bundled": [],
        },
    }


async def test_slack_text(hook: Hook, notifiers: list[WebhookNotifier]) -> None:
    assert await post(hook, notifiers, "slack_text") == {
        "text": f"*{SUMMARY}*\n{TIME}\n"
        "SOP: Move material to ULT-07 &lt;now&gt; &amp; call QA.\n"
        "Acknowledge: reply ACK A1007 &lt;PIN&gt; &lt;comment&gt; to the SMS, "
        "or press 1 on the call"
    }


async def test_slack_blocks(hook: Hook, notifiers: list[WebhookNotifier]) -> None:
    assert await post(hook, notifiers, "slack_blocks") == {
        "text": SUMMARY,
        "blocks": [
            {
                "type": "header",
                "text": {
                    "type": "plain_text",
                    "text": "A1007 CRITICAL ALARM: ULT-03 -80 freezer",
                    "emoji": False,
                },
            },
            {
                "type": "section",
                "fields": [{"type": "mrkdwn", "text": f"*{k}*\n{v}"} for k, v in FACTS],
            },
            {
                "type": "section",
                "text": {
                    "type": "mrkdwn",
                    "text": "*SOP:* Move material to ULT-07 &lt;now&gt; &amp; call QA. "
                    "Then log it.",
                },
            },
            {
                "type": "context",
                "elements": [
                    {"type": "mrkdwn", "text": ACK.replace("<", "&lt;").replace(">", "&gt;")}
                ],
            },
        ],
    }


async def test_teams_messagecard(hook: Hook, notifiers: list[WebhookNotifier]) -> None:
    assert await post(hook, notifiers, "teams_messagecard") == {
        "@type": "MessageCard",
        "@context": "https://schema.org/extensions",
        "summary": SUMMARY,
        "themeColor": "D70000",
        "title": SUMMARY,
        "sections": [
            {
                "facts": [{"name": k, "value": v} for k, v in FACTS],
                "text": "SOP: Move material to ULT-07 &lt;now&gt; &amp; call QA. Then log it.",
            },
            {"text": ACK.replace("<", "&lt;").replace(">", "&gt;")},
        ],
    }


async def test_teams_adaptive_card(hook: Hook, notifiers: list[WebhookNotifier]) -> None:
    assert await post(hook, notifiers, "teams_adaptive") == {
        "type": "message",
        "attachments": [
            {
                "contentType": "application/vnd.microsoft.card.adaptive",
                "contentUrl": None,
                "content": {
                    "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                    "type": "AdaptiveCard",
                    "version": "1.4",
                    "body": [
                        {
                            "type": "TextBlock",
                            "text": SUMMARY,
                            "weight": "Bolder",
                            "size": "Medium",
                            "color": "Attention",
                            "wrap": True,
                        },
                        {
                            "type": "FactSet",
                            "facts": [{"title": k, "value": v} for k, v in FACTS],
                        },
                        {"type": "TextBlock", "text": f"SOP: {SOP}", "wrap": True},
                        {"type": "TextBlock", "text": ACK, "wrap": True, "isSubtle": True},
                    ],
                },
            }
        ],
    }


async def test_acknowledged_card_is_green_and_asks_nothing(
    hook: Hook, notifiers: list[WebhookNotifier]
) -> None:
    notifier = make(notifiers, hook.url(), format="teams_messagecard")
    n = notification(kind="acknowledged", state="ACKED", acknowledged_by="Bob", comment="ok")
    await notifier.send(n, person())
    card = hook.received[-1][2]
    assert card["themeColor"] == "2DC72D"
    assert len(card["sections"]) == 1
    assert {"name": "Acknowledged by", "value": "Bob"} in card["sections"][0]["facts"]


async def test_bearer_token_and_extra_headers(
    hook: Hook, notifiers: list[WebhookNotifier], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOOK_TOKEN", "t0k3n")
    notifier = make(
        notifiers, hook.url(), bearer_token_env="HOOK_TOKEN", headers={"X-Site": "berlin"}
    )
    await notifier.send(notification(), person())
    headers = hook.received[-1][1]
    assert headers["Authorization"] == "Bearer t0k3n"
    assert headers["X-Site"] == "berlin"


@pytest.mark.parametrize(
    ("status", "retryable"),
    [(500, True), (502, True), (503, True), (429, True), (408, True), (400, False),
     (401, False), (403, False), (404, False), (410, False)],
)  # fmt: skip
async def test_status_codes(
    hook: Hook, notifiers: list[WebhookNotifier], status: int, retryable: bool
) -> None:
    notifier = make(notifiers, hook.url(f"/status/{status}/secret-path-token"))
    with pytest.raises(NotifyError, match=f"HTTP {status}") as info:
        await notifier.send(notification(), person())
    assert info.value.retryable is retryable
    assert not info.value.outcome_unknown
    assert "secret-path-token" not in str(info.value)  # the URL is a credential


async def test_timeout_is_retryable(hook: Hook, notifiers: list[WebhookNotifier]) -> None:
    notifier = make(notifiers, hook.url("/slow"), timeout="300ms")
    with pytest.raises(NotifyError, match="did not answer") as info:
        await notifier.send(notification(), person())
    assert info.value.retryable and info.value.outcome_unknown


async def test_redirect_is_not_followed(hook: Hook, notifiers: list[WebhookNotifier]) -> None:
    notifier = make(notifiers, hook.url("/redirect"))
    with pytest.raises(NotifyError, match="HTTP 302") as info:
        await notifier.send(notification(), person())
    assert not info.value.retryable
    assert [r[0] for r in hook.received] == ["/redirect"]


async def test_nobody_listening_is_retryable(
    notifiers: list[WebhookNotifier], closed_port: ClosedPorts
) -> None:
    notifier = make(notifiers, f"http://127.0.0.1:{closed_port()}/hook/T0KEN")
    with pytest.raises(NotifyError, match=r"cannot connect to 127\.0\.0\.1") as info:
        await notifier.send(notification(), person())
    assert info.value.retryable
    assert "T0KEN" not in str(info.value)


async def test_https_with_a_private_ca(
    https_hook: Hook, tls: Tls, notifiers: list[WebhookNotifier]
) -> None:
    await make(notifiers, https_hook.url(), ca_file=tls.ca).send(notification(), person())
    assert len(https_hook.received) == 1
    with pytest.raises(NotifyError, match="not trusted") as info:
        await make(notifiers, https_hook.url()).send(notification(), person())
    assert not info.value.retryable
    await make(notifiers, https_hook.url(), verify=False).send(notification(), person())
    assert len(https_hook.received) == 2


async def test_url_from_a_file(tmp_path: Any, hook: Hook, notifiers: list[WebhookNotifier]) -> None:
    path = tmp_path / "hook-url"
    path.write_text(hook.url() + "\n")
    notifier = WebhookNotifier("hook", WebhookSettings(url_file=str(path)))
    notifiers.append(notifier)
    await notifier.send(notification(), person())
    assert len(hook.received) == 1


def test_a_bundle_tells_chat_readers_to_acknowledge_every_code() -> None:
    from datetime import UTC, datetime

    from alarms.escalation.messages import bundle
    from alarms.notify.email import body as email_body
    from alarms.notify.webhook import ack_hint
    from tests.support.notify import notification

    at = datetime(2026, 3, 1, 3, 0, tzinfo=UTC)
    page = bundle([notification(), notification(alarm_id="A1015")], "esc/bundle/alice/x", at)
    assert page.bundled == ("A1007", "A1015")
    assert "reply ACK A1007 A1015 <PIN> <comment> to the SMS" in ack_hint(page)
    assert "reply ACK A1007 <PIN> <comment>" in ack_hint(notification())
    assert "    ACK A1007 A1015 <PIN> <comment>" in email_body(page)
