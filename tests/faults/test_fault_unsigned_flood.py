"""A flood of unsigned requests against the daemon's Twilio listener, over real HTTP on
loopback (every request from one source, as behind a reverse proxy): the store gains a few
aggregated rows, not one per request; the flood is throttled (429); and a correctly signed SMS
acknowledgement sent in the middle of it is accepted. In the fault suite: readings lost are the
fake freezer's reads without a stored row; this site pages no one (it measures the
acknowledgement path and the record), so no page can be lost."""

from __future__ import annotations

import asyncio
import xml.etree.ElementTree as ET
from collections.abc import Callable
from urllib.parse import urlencode

import aiohttp

from alarms.model import AlarmState
from tests.faults.fault_counts import channel_rows
from tests.faults.fault_report import FaultResult
from tests.support.ack import ALICE_PHONE, BASE, signature, signed_post, sms_params
from tests.support.ack_listener import KEY, Site, site_fixture  # noqa: F401
from tests.support.fakes import FakePolled

FLOOD = 2_000
AT_ONCE = 32


async def test_a_flood_of_unsigned_requests_adds_a_few_rows_and_blocks_no_acknowledgement(
    site: Site, fault_report: Callable[[FaultResult], None]
) -> None:
    url = f"http://127.0.0.1:{site.twilio_port}/twilio/sms"
    code = site.code
    statuses: list[int] = []
    sent = 0
    a_quarter_answered = asyncio.Event()

    async def flood(session: aiohttp.ClientSession) -> None:
        nonlocal sent
        while sent < FLOOD:
            n = sent
            sent += 1
            params = sms_params(ALICE_PHONE, f"ACK {code} 0000 guess {n}")
            headers = {"Content-Type": "application/x-www-form-urlencoded"}
            if n % 2:  # half claim a signature, made with a token that is not ours
                headers["X-Twilio-Signature"] = signature(BASE + "/twilio/sms", params, "forged")
            async with session.post(url, data=urlencode(params), headers=headers) as response:
                statuses.append(response.status)
            if len(statuses) >= FLOOD // 4:
                a_quarter_answered.set()

    async with aiohttp.ClientSession() as session:
        workers = [asyncio.create_task(flood(session)) for _ in range(AT_ONCE)]
        await a_quarter_answered.wait()
        ack = sms_params(ALICE_PHONE, f"ACK {code} 4711 moved product to BF-02")
        async with await signed_post(session, site.twilio_port, "/twilio/sms", ack) as response:
            assert response.status == 200
            reply = ET.fromstring(await response.text()).findtext("Message")
        answered_during_flood = len(statuses)
        await asyncio.gather(*workers)

    assert reply == f"{code} acknowledged by Alice Meyer: moved product to BF-02"
    assert answered_during_flood < FLOOD  # the acknowledgement went in while the flood ran
    engine = site.daemon.alarms
    assert engine is not None and engine.get(KEY).state is AlarmState.ACKED
    assert len(statuses) == FLOOD and set(statuses) == {403, 429}
    assert statuses.count(403) <= 25  # the source's budget, then 429 until the flood stops
    assert site.daemon.metrics.get("ack_refused") == FLOOD

    await site.stop()
    reads = len(FakePolled.instances["dev"].read_times)
    stored = len(channel_rows(site.tmp_path / "cw.db", "fr.temp"))
    rows = site.refusal_rows()
    fault_report(
        FaultResult(
            "a flood of unsigned webhook requests",
            readings_lost=max(0, reads - stored),
            pages_lost=0,
            pages_duplicated=0,
            crashes=sum(status >= 500 for status in statuses),
            note=f"{FLOOD} requests, {statuses.count(429)} throttled; {len(rows)} refusal rows "
            f"stored; {reads} polls, {stored} rows; the signed acknowledgement was taken",
        )
    )
    assert len(rows) <= 4, [r.message for r in rows]  # first and sum, per reason
    assert {(r.source, r.data["reason"], r.data["who"]) for r in rows} == {
        ("ack.sms", "bad_signature", "127.0.0.1"),
        ("ack.sms", "rate_limited", "127.0.0.1"),
    }
    assert sum(r.data["count"] for r in rows) == FLOOD
    assert all("0000" not in r.message and "0000" not in str(r.data) for r in rows)
