"""A malformed-request fuzz of each of the daemon's acknowledgement listeners: 2,400 generated
requests (a seeded random list, so a failure repeats) over real HTTP on loopback and the real
unix socket, against a running daemon. Every answer is a 4xx or the documented success for a
request that happens to be valid, never a 5xx, never a dropped connection; nothing is logged
at ERROR or with a traceback; and afterwards each listener still answers a valid request.
In the fault suite: a 5xx answer or an error logged counts as a crash; this site pages no one,
so no page can be lost, and its fake freezer's reads are counted against the stored rows."""

from __future__ import annotations

import asyncio
import json
import logging
import random
import socket
import string
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import quote, urlencode

import aiohttp
import pytest
from yarl import URL

from tests.faults.fault_counts import channel_rows
from tests.faults.fault_report import FaultResult
from tests.support.ack import ALICE_PHONE, BASE, signature
from tests.support.ack_listener import (
    Site,
    site_fixture,  # noqa: F401
)
from tests.support.fakes import FakePolled

SEED = 20260309
API_REQUESTS = 900
TWILIO_REQUESTS = 900
SOCKET_LINES = 600
LINES_PER_CONNECTION = 10

Request = tuple[str, str, bytes | aiohttp.FormData, dict[str, str]]


def text(rng: random.Random, size: int = 20) -> str:
    alphabet = string.printable + "äöü€\u2212😀\x00\x7f"
    return "".join(rng.choice(alphabet) for _ in range(rng.randint(0, size)))


def blob(rng: random.Random, size: int = 200) -> bytes:
    return rng.randbytes(rng.randint(0, size))


def nested(rng: random.Random, depth: int) -> str:
    opener = rng.choice(["[", '{"comment": ', '{"a": ['])
    closer = {"[": "]", '{"comment": ': "}", '{"a": [': "]}"}[opener]
    return opener * depth + '"x"' + closer * depth


def json_value(rng: random.Random, depth: int = 0) -> Any:
    kind = rng.randint(0, 7 if depth < 3 else 4)
    if kind == 0:
        return text(rng)
    if kind == 1:
        return rng.choice([0, -1, 2**70, 1.5e308, True, None])
    if kind == 2:
        return rng.choice(["A1007", "A1008", "", "../../etc", "%00"])
    if kind in (3, 4):
        return text(rng, 5)
    if kind == 5:
        return [json_value(rng, depth + 1) for _ in range(rng.randint(0, 4))]
    keys = ["comment", "person", "cmd", "id", text(rng, 6)]
    return {rng.choice(keys): json_value(rng, depth + 1) for _ in range(rng.randint(0, 4))}


def json_body(rng: random.Random) -> bytes:
    kind = rng.randint(0, 6)
    if kind == 0:
        return blob(rng)
    if kind == 1:
        return nested(rng, rng.choice([50, 1000, 3000])).encode()
    if kind == 2:
        return json.dumps(json_value(rng)).encode()
    if kind == 3:
        return json.dumps({"comment": json_value(rng)}).encode()
    if kind == 4:
        return b'{"comment": "a", "comment": "b"}'
    if kind == 5:
        return text(rng, 60).encode("utf-8", "surrogatepass")
    return b"x" * rng.choice([16_000, 17_000, 40_000])


def api_requests(rng: random.Random, port: int, code: str, token: str) -> Iterator[Request]:
    base = f"http://127.0.0.1:{port}"
    paths = [
        *[f"/api/alarms/{code}/ack"] * 4,
        "/api/alarms",
        f"/api/alarms/{code}",
        "/api/alarms/" + quote(text(rng, 30), safe=""),
        "/api/alarms/%ff%fe/ack",
        "/api/" + "a" * 3000,
        "/twilio/sms",
        "/" + quote(text(rng, 10), safe=""),
    ]
    types = [
        "application/json",
        "application/json",
        "text/plain",
        "application/json; charset=latin-1",
        "",
        "a/b",
    ]
    for _ in range(API_REQUESTS):
        method = rng.choice(["POST"] * 12 + ["GET", "PUT", "DELETE", "PATCH", "OPTIONS"])
        headers = {"Content-Type": rng.choice(types)}
        auth = rng.randint(0, 9)
        if auth < 7:
            headers["Authorization"] = f"Bearer {token}"
        elif auth == 7:
            headers["Authorization"] = "Bearer " + "".join(rng.choices(string.ascii_letters, k=30))
        elif auth == 8:
            headers["Authorization"] = rng.choice(["Basic eDp5", "Bearer", "bearer  ", "x" * 5000])
        if rng.random() < 0.1:
            headers["Host"] = rng.choice(["evil.example", "127.0.0.1:1", "[::1]", "x" * 300])
        if rng.random() < 0.05:
            headers["Content-Encoding"] = "gzip"
        yield method, base + rng.choice(paths), json_body(rng), headers


def twilio_form(rng: random.Random, code: str) -> dict[str, str]:
    fields = {
        "MessageSid": rng.choice([f"SM{rng.getrandbits(128):032x}", "", text(rng, 40)]),
        "CallSid": rng.choice([f"CA{rng.getrandbits(128):032x}", "", "CA1"]),
        "From": rng.choice([ALICE_PHONE, "+4917000000000", text(rng, 16), ""]),
        "To": rng.choice([ALICE_PHONE, "+15005550006", text(rng, 16)]),
        "Body": rng.choice(
            [
                f"ACK {code} {rng.randint(0, 99999)} {text(rng, 30)}",
                f"ACK {code} A1008 A{rng.randint(0, 10**8)} 4711 x",
                text(rng, 300),
                "ACK ALL 4711 x",
                "",
            ]
        ),
        "Digits": rng.choice(["1", "2", "", "4711#", "0000#", text(rng, 12), "#" * 50]),
        "MessageStatus": rng.choice(["delivered", "failed", text(rng, 12)]),
        "CallStatus": rng.choice(["completed", text(rng, 12)]),
        text(rng, 8) or "x": text(rng, 30),
    }
    return {k: v for k, v in fields.items() if rng.random() < 0.8}


def gather_query(rng: random.Random, code: str) -> str:
    query = {
        "alarm": rng.choice([code, "A1008", text(rng, 12), ""]),
        "person": rng.choice(["alice", "mallory", "", text(rng, 10)]),
        "key": text(rng, 8),
        "step": rng.choice(["key", "pin", "", text(rng, 6)]),
        "try": rng.choice(["1", "2", "3", "-1", "99999999999999999999", text(rng, 5)]),
        "alarms": ".".join(rng.choice([code, "A1008", text(rng, 5)]) for _ in range(5)),
    }
    return urlencode({k: v for k, v in query.items() if rng.random() < 0.8})


def twilio_requests(rng: random.Random, port: int, code: str) -> Iterator[Request]:
    form_type = "application/x-www-form-urlencoded"
    for _ in range(TWILIO_REQUESTS):
        path = rng.choice(["/twilio/sms", "/twilio/sms/status", "/twilio/voice/status"])
        if rng.random() < 0.4:
            path = f"/twilio/voice/gather?{gather_query(rng, code)}"
        elif rng.random() < 0.05:
            path = "/twilio/" + quote(text(rng, 10), safe="")
        form = twilio_form(rng, code)
        headers = {"Content-Type": form_type}
        body: bytes | aiohttp.FormData = urlencode(form).encode()
        kind = rng.randint(0, 9)
        if kind < 4:  # signed by Twilio: never throttled, judged on its content
            headers["X-Twilio-Signature"] = signature(BASE + path, form)
        elif kind == 4:
            headers["X-Twilio-Signature"] = "".join(rng.choices(string.ascii_letters, k=28))
            body = urlencode(form).encode() + b"&From=%2B49"  # a repeated field
        elif kind == 5:
            headers["X-Twilio-Signature"] = "x"
            body = blob(rng, 400)
        elif kind == 6:
            headers = {"X-Twilio-Signature": "x"}
            body = aiohttp.FormData()
            body.add_field("Body", blob(rng, 100), filename="f.bin")
        elif kind == 7:
            headers["Content-Type"] = rng.choice(["application/json", "text/xml", "", "x/y"])
            headers["X-Twilio-Signature"] = "x"
        elif kind == 8:
            body = b"Body=" + b"x" * 70_000
            headers["X-Twilio-Signature"] = "x"
        yield "POST", f"http://127.0.0.1:{port}{path}", body, headers


async def send_all(requests: Iterator[Request]) -> list[tuple[int, str]]:
    """Every request, 16 at a time; (status, method and URL) of each answer."""
    answers: list[tuple[int, str]] = []
    pending = list(requests)

    async def worker(session: aiohttp.ClientSession) -> None:
        while pending:
            method, url, body, headers = pending.pop()
            async with session.request(
                method, URL(url, encoded=True), data=body, headers=headers, allow_redirects=False
            ) as response:
                await response.read()
                answers.append((response.status, f"{method} {url[:120]}"))

    async with aiohttp.ClientSession() as session:
        await asyncio.gather(*(worker(session) for _ in range(16)))
    return answers


def socket_lines(rng: random.Random, code: str) -> list[list[bytes]]:
    lines: list[bytes] = []
    for _ in range(SOCKET_LINES):
        kind = rng.randint(0, 6)
        if kind == 0:
            line = blob(rng).replace(b"\n", b"")
        elif kind == 1:
            line = nested(rng, rng.choice([50, 1000, 20_000])).encode()
        elif kind == 2:
            line = json.dumps(json_value(rng)).encode()
        elif kind == 3:
            request = {"cmd": rng.choice(["list", "get", "history", "ack", "reset", 5, None])}
            request |= {"id": rng.choice([code, "A1008", json_value(rng)])}
            request |= {"comment": json_value(rng)} if rng.random() < 0.5 else {}
            line = json.dumps(request).encode()
        elif kind == 4:
            line = json.dumps({"cmd": "ack", "id": code, "comment": "x", "person": "bob"}).encode()
        elif kind == 5:
            line = b'{"cmd": 1' + b"0" * 5000 + b"}"
        else:
            line = b"x" * rng.choice([10, 70_000])
        lines.append(line)
    return [lines[i : i + LINES_PER_CONNECTION] for i in range(0, len(lines), LINES_PER_CONNECTION)]


def talk(path: str, batch: list[bytes]) -> list[dict[str, Any]]:
    """One connection: every line of ``batch``, every answer (up to a line over the limit,
    which is answered and then the connection closed)."""
    expected = next((i + 1 for i, line in enumerate(batch) if len(line) > 65_536), len(batch))
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(10)
        sock.connect(path)
        try:
            sock.sendall(b"".join(line + b"\n" for line in batch[:expected]))
        except BrokenPipeError:  # a line over the limit: answered, then closed mid-send
            assert expected < len(batch) or len(batch[-1]) > 65_536
        data = b""
        while data.count(b"\n") < expected and (chunk := sock.recv(65_536)):
            data += chunk
    answers = [json.loads(line) for line in data.splitlines()]
    assert len(answers) == expected, (batch, answers)
    return answers


def loud(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        f"{r.name}: {r.getMessage()[:200]}"
        for r in caplog.records
        if r.levelno >= logging.ERROR or r.exc_info
    ]


async def test_every_malformed_request_gets_a_4xx_and_the_listeners_keep_serving(
    site: Site, caplog: pytest.LogCaptureFixture, fault_report: Callable[[FaultResult], None]
) -> None:
    caplog.set_level(logging.DEBUG)
    rng = random.Random(SEED)
    code = site.code
    api = await send_all(api_requests(rng, site.api_port, code, site.api_token))
    twilio = await send_all(twilio_requests(rng, site.twilio_port, code))
    replies: list[dict[str, Any]] = []
    for batch in socket_lines(rng, code):
        replies += await asyncio.to_thread(talk, str(site.socket_path), batch)

    sent = len(api) + len(twilio) + len(replies)
    server_errors = sum(status >= 500 for status, _ in api + twilio)
    loud_lines = loud(caplog)
    serving = await still_serving(site, code)
    await site.stop()
    reads = len(FakePolled.instances["dev"].read_times)
    stored = len(channel_rows(site.tmp_path / "cw.db", "fr.temp"))
    refusal_rows = len(site.refusal_rows())
    fault_report(
        FaultResult(
            "a malformed-request fuzz of each listener",
            readings_lost=max(0, reads - stored),
            pages_lost=0,
            pages_duplicated=0,
            crashes=server_errors + len(loud_lines) + (serving is not None),
            note=f"{sent} requests ({len(api)} alarm API, {len(twilio)} Twilio, {len(replies)} "
            f"socket); {refusal_rows} refusal rows; {reads} polls, {stored} rows",
        )
    )
    assert sent >= 2_000
    # the console's one redirect: a trailing slash (not followed; it names the path only)
    redirected = [a for a in api if a[0] == 307]
    assert all(where.endswith("/api/alarms/") for _, where in redirected), redirected
    assert not [a for a in api if not (400 <= a[0] < 500 or a[0] in (200, 307))]
    assert not [a for a in twilio if not (400 <= a[0] < 500 or a[0] in (200, 204))]
    assert {s for s, _ in twilio} >= {200, 204, 400, 403, 409, 415, 429}
    assert {s for s, _ in api} >= {200, 400, 401, 404, 405, 409, 422}
    assert all(r.get("ok") is True or r.get("reason") for r in replies)
    assert {r.get("reason") for r in replies} >= {"bad_request", None}
    assert loud_lines == []
    assert serving is None, serving
    assert refusal_rows < 100  # aggregated: not one row per refused request


async def still_serving(site: Site, code: str) -> str | None:
    """None if every listener still answers a valid request, else what failed."""
    try:
        async with aiohttp.ClientSession() as session:  # each listener still serves
            headers = {"Authorization": f"Bearer {site.api_token}"}
            url = f"http://127.0.0.1:{site.api_port}/api/alarms"
            async with session.get(url, headers=headers) as response:
                assert response.status == 200
                assert code in [a["code"] for a in (await response.json())["alarms"]]
            status = {"MessageSid": "SM" + "e" * 32, "MessageStatus": "delivered"}
            signed = {
                "X-Twilio-Signature": signature(BASE + "/twilio/sms/status", status),
                "Content-Type": "application/x-www-form-urlencoded",
            }
            async with session.post(
                f"http://127.0.0.1:{site.twilio_port}/twilio/sms/status",
                data=urlencode(status),
                headers=signed,
            ) as response:
                assert response.status == 204
        (listed,) = await asyncio.to_thread(talk, str(site.socket_path), [b'{"cmd": "list"}'])
        assert listed["ok"] is True and code in [a["code"] for a in listed["alarms"]]
    except AssertionError as exc:
        return f"a listener stopped serving: {exc}"
    return None
