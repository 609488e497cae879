"""Builders and fakes shared by the acknowledgement tests (no tests here): a real engine with
one alarm raised, the acknowledger around it, people, signed Twilio requests, and a fake of
Twilio's cloud at the twilio library's HTTP client boundary."""

from __future__ import annotations

import itertools
import json
import logging
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from email.utils import format_datetime
from typing import Any
from urllib.parse import urlencode

import aiohttp
import pytest
from twilio.http import AsyncHttpClient
from twilio.http.response import Response
from twilio.request_validator import RequestValidator
from yarl import URL

from alarms.ack.acknowledger import Acknowledger
from alarms.ack.lockout import PinLockout
from alarms.ack.refusals import Refusal, RefusalLog
from alarms.people import Directory, Person
from monitor.core.clock import FakeClock
from monitor.store.base import AuditQuery
from tests.support.alarm_engine import KEY, Factory, Harness, cfg

TOKEN = "test-auth-token-0123456789"
BASE = "https://coldwatch.example.org"
ACCOUNT = "AC" + "0123456789abcdef" * 2
OUR_NUMBER = "+15005550006"
ALICE_PHONE = "+4915112345678"
BOB_PHONE = "+4915187654321"
STRANGER = "+4917000000000"


def people() -> list[Person]:
    return [
        Person(id="alice", name="Alice Meyer", phone=ALICE_PHONE, pin="4711", channels=("sms",)),
        Person(id="bob", name="Bob Okafor", phone=BOB_PHONE, pin="2468", channels=("sms",)),
        Person(id="nopin", name="No Pin", phone="+4915100000001", channels=("sms",)),
        Person(id="lab-horn", name="Lab horn", channels=("horn",)),
    ]


@dataclass
class Stack:
    """One engine (real store, FakeClock) with alarm ``KEY`` raised as ``code``."""

    harness: Harness
    service: Acknowledger
    refused: list[Refusal] = field(default_factory=list)

    @property
    def clock(self) -> FakeClock:
        return self.harness.clock

    @property
    def code(self) -> str:
        code = self.harness.view(KEY).code
        assert code is not None
        return code

    def acks(self) -> list[tuple[str | None, str | None, str | None]]:
        """(person, via, comment) of every acknowledgement in the alarm history."""
        return [
            (r.person, r.via, r.comment)
            for r in self.harness.store.alarm_records(key=KEY)
            if r.action == "acknowledged"
        ]

    def audited(self) -> list[tuple[str, str | None, str, str | None, str | None]]:
        """(action, person, method, subject, reason) of every audit trail entry."""
        return [
            (e.action, e.person, e.method, e.subject, e.reason)
            for e in self.harness.store.audit_entries(AuditQuery())
        ]

    def reasons(self) -> list[str]:
        return [r.reason.value for r in self.refused]


@pytest.fixture(name="stack")
async def stack_fixture(engine_factory: Factory) -> AsyncIterator[Stack]:
    """Import ``stack_fixture`` to use the ``stack`` fixture in a test module."""
    harness = await engine_factory(**cfg())
    await harness.push("box.t", 11.0, 0)
    refused: list[Refusal] = []
    service = Acknowledger(
        harness.engine,
        Directory(people()),
        harness.clock,
        PinLockout(harness.clock, attempts=5, window=900, duration=900),
        RefusalLog(refused.append),
    )
    yield Stack(harness, service, refused)


def signature(url: str, params: Mapping[str, str], token: str = TOKEN) -> str:
    return str(RequestValidator(token).compute_signature(url, dict(params)))


async def signed_post(
    session: aiohttp.ClientSession,
    port: int,
    path_qs: str,
    params: Mapping[str, str],
    *,
    token: str = TOKEN,
    sent: Mapping[str, str] | None = None,
) -> aiohttp.ClientResponse:
    """POST ``sent`` (default ``params``) to the local listener, signed as Twilio signs a call
    to ``BASE + path_qs`` carrying ``params``."""
    headers = {"X-Twilio-Signature": signature(BASE + path_qs, params, token)}
    body = urlencode(dict(sent if sent is not None else params))
    return await session.post(
        URL(f"http://127.0.0.1:{port}{path_qs}", encoded=True),  # as signed: %2F stays %2F
        data=body,
        headers={**headers, "Content-Type": "application/x-www-form-urlencoded"},
    )


_SIDS = itertools.count(1)


def sms_params(sender: str, body: str, sid: str | None = None) -> dict[str, str]:
    """An inbound SMS as Twilio posts it; each with its own MessageSid unless ``sid``."""
    sid = sid or f"SM{next(_SIDS):032x}"
    return {
        "MessageSid": sid,
        "AccountSid": ACCOUNT,
        "From": sender,
        "To": OUR_NUMBER,
        "Body": body,
        "NumMedia": "0",
    }


@dataclass
class InboundSms:
    sid: str
    sender: str
    body: str
    at: datetime
    direction: str = "inbound"

    def payload(self) -> dict[str, Any]:
        return {
            "sid": self.sid,
            "account_sid": ACCOUNT,
            "from": self.sender,
            "to": OUR_NUMBER,
            "body": self.body,
            "direction": self.direction,
            "status": "received",
            "date_sent": format_datetime(self.at, usegmt=True),
            "date_created": format_datetime(self.at, usegmt=True),
        }


class FakeTwilioCloud(AsyncHttpClient):  # type: ignore[misc]
    """Twilio's REST API as the twilio library sees it: ``GET Messages.json`` lists
    ``inbox`` (newest first, filtered by ``To``, as Twilio does), ``POST Messages.json``
    queues an SMS. Every request is recorded."""

    def __init__(self, timeout: float | None = None) -> None:
        super().__init__(logging.getLogger("tests.twilio"), True, timeout)
        self.inbox: list[InboundSms] = []
        self.requests: list[dict[str, Any]] = []
        self.sent: list[dict[str, Any]] = []
        self.fail_next: BaseException | None = None

    async def request(
        self,
        method: str,
        uri: str,
        params: dict[str, object] | None = None,
        data: dict[str, object] | None = None,
        headers: dict[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        timeout: float | None = None,
        allow_redirects: bool = False,
    ) -> Response:
        self.requests.append(
            {"method": method, "uri": uri, "params": dict(params or {}), "data": dict(data or {})}
        )
        if self.fail_next is not None:
            failure, self.fail_next = self.fail_next, None
            raise failure
        assert uri == f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT}/Messages.json"
        assert auth == (ACCOUNT, TOKEN)
        if method == "POST":
            self.sent.append(dict(data or {}))
            sid = f"SM{len(self.sent):032x}"
            return Response(201, json.dumps({"sid": sid, "status": "queued"}))
        to = (params or {}).get("To")
        listed = sorted(
            (m for m in self.inbox if to is None or to == OUR_NUMBER),
            key=lambda m: m.at,
            reverse=True,
        )
        page = {
            "messages": [m.payload() for m in listed],
            "next_page_uri": None,
            "page": 0,
            "page_size": 50,
            "uri": "/2010-04-01/Accounts/x/Messages.json",
            "first_page_uri": "/2010-04-01/Accounts/x/Messages.json",
            "previous_page_uri": None,
            "start": 0,
            "end": len(listed),
        }
        return Response(200, json.dumps(page))
