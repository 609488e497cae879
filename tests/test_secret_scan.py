"""The secret scan: no configured secret reaches the record, a log, the outbox or a command's
output.

Every secret field of the configuration (``SECRET_FIELDS``: its path in the configuration,
how it is given -- inline, ``*_env`` or ``*_file`` -- and what kind of value it holds) gets a
unique random value. The daemon runs in-process against real peers (webhook receivers, one
of which echoes what it refuses, an SMTP server with AUTH, a Mosquitto broker checking the
MQTT password, a Modbus horn, the outbox; Twilio's cloud is faked at the twilio library's HTTP
client), pages everyone, is acknowledged by a signed SMS and a signed phone call carrying the
PINs and asked through the HTTP API with its token; every CLI command runs beside it and after
it. Then the store file with its -wal, every other file in its folder, the captured logs (all
loggers, DEBUG), stdout and stderr are scanned for every value. The peers' records prove that
each secret was really used.

Later issues extend this test with their own secret fields: add an entry to
``SECRET_FIELDS`` (and, if it needs one, a peer that proves the secret was used); the walk
sets the value into the configuration and the scan looks for it everywhere.
"""

from __future__ import annotations

import asyncio
import base64
import getpass
import json
import logging
import secrets
import sqlite3
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

import aiohttp
import pytest

import tests.support.fakes  # noqa: F401  (registers the in-memory drivers)
from alarms.notify import twilio_common
from monitor.app.cli import main
from monitor.app.config import load
from monitor.app.daemon import Daemon
from monitor.core.secrets import REDACTED
from tests.monitor.app.test_daemon_paging_health import until
from tests.support.ack import ACCOUNT, BASE, OUR_NUMBER, signed_post, sms_params
from tests.support.fakes import write_config
from tests.support.modbus_server import Unit, modbus_server
from tests.support.ports import free_port
from tests.support.secret_scan_peers import (
    PEER_LOGGERS,
    TwilioCloud,
    broker_on,
    http_peer,
    password_file,
    smtp_peer,
)

pytestmark = [
    pytest.mark.timeout(180),
    pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS"),  # the peer's
]

Source = Literal["inline", "env", "file"]
Path_ = tuple[str | int, ...]

#: (where the secret key sits, how it is given, what it holds). URL kinds name the peer route.
SECRET_FIELDS: list[tuple[Path_, Source, str]] = [
    (("notifiers", "sms", "auth_token"), "inline", "token"),
    (("notifiers", "phone", "auth_token"), "env", "token"),
    (("notifiers", "mail", "password"), "file", "token"),
    (("notifiers", "slack", "url"), "inline", "url:/ok/slack"),
    (("notifiers", "teams", "url"), "file", "url:/echo/teams"),
    (("notifiers", "hook", "url"), "env", "url:/ok/hook"),
    (("notifiers", "hook", "bearer_token"), "inline", "token"),
    (("notifiers", "hook", "secret_headers", "X-Api-Key", "value"), "file", "token"),
    (("notifiers", "hook", "secret_headers", "X-Signing-Key", "value"), "inline", "token"),
    (("notifiers", "gone", "url"), "env", "url:/closed"),
    (("people", 0, "pin"), "inline", "pin"),
    (("people", 1, "pin"), "file", "pin"),
    (("people", 2, "pin"), "env", "pin"),
    (("acknowledgement", "twilio", "auth_token"), "file", "token"),
    (("devices", 1, "settings", "password"), "inline", "token"),
]

ALICE, BOB, CAROL = "+4915100000001", "+4915100000002", "+4915100000003"
ROOMS = {"slack-room": "slack", "teams-room": "teams", "ticket": "hook", "gone-hook": "gone"}
ROOMS |= {"lab-horn": "horn", "log": "log"}


def configure(
    data: dict[str, Any], urls: dict[str, str], tmp: Path, env: dict[str, str]
) -> dict[Path_, tuple[str, str]]:
    """Sets a unique value into every field of ``SECRET_FIELDS``; returns by path the value
    configured and the part of it that must never appear (of a URL: its secret path)."""
    values: dict[Path_, tuple[str, str]] = {}
    for n, (path, source, kind) in enumerate(SECRET_FIELDS):
        if kind == "pin":
            needle = str(secrets.randbelow(9 * 10**11) + 10**11)  # 12 digits
        else:
            needle = "s" + secrets.token_hex(16)
        value = f"{urls[kind]}/{needle}" if kind.startswith("url:") else needle
        *parents, key = path
        node: Any = data
        for part in parents:
            node = node.setdefault(part, {}) if isinstance(part, str) else node[part]
        assert isinstance(key, str)
        if source == "inline":
            node[key] = value
        elif source == "env":  # where a secret comes from is no secret: it is kept
            env[f"CW_SCAN_SECRET_{n}"] = value
            node[f"{key}_env"] = f"CW_SCAN_SECRET_{n}"
        else:
            (tmp / f"secret-{n}").write_text(value + "\n")
            node[f"{key}_file"] = str(tmp / f"secret-{n}")
        values[path] = (value, needle)
    return values


def site(tmp: Path, ports: dict[str, int]) -> dict[str, Any]:
    twilio = {"account_sid": ACCOUNT, "public_base_url": BASE}
    rule = {"condition": "limit", "channel": "temp", "high": -60, "priority": "critical"}
    people = [
        {"id": "alice", "name": "Alice", "phone": ALICE, "channels": ["sms"]}
        | {"os_users": [getpass.getuser()]},  # who may use `coldwatch alarms` here
        {"id": "bob", "name": "Bob", "phone": BOB, "channels": ["phone"]},
        {"id": "carol", "name": "Carol", "phone": CAROL, "email": "c@x.org", "channels": ["mail"]},
    ]
    people += [{"id": p, "name": p, "channels": [c]} for p, c in ROOMS.items()]
    mqtt = {"host": "127.0.0.1", "port": ports["mqtt"], "client_id": "cw-scan"}
    return {
        "site": {"id": "scan", "name": "Secret scan"},
        "store": {"path": str(tmp / "state" / "cw.db")},
        "devices": [
            {"id": "dev", "driver": "fake", "interval": "1s", "timeout": "500ms"},
            {"id": "broker", "driver": "mqtt", "settings": {**mqtt, "username": "coldwatch"}},
        ],
        "locations": [
            {
                "id": "room",
                "equipment": [
                    {
                        "id": "fr",
                        "kind": "ult_freezer",
                        "channels": [
                            {"id": "temp", "quantity": "temperature", "unit": "C"}
                            | {"source": {"device": "dev", "value": -50.0}},
                            {"id": "mq", "quantity": "temperature", "unit": "C"}
                            | {"source": {"device": "broker", "topic": "fr/mq"}},
                        ],
                    }
                ],
            }
        ],
        "alarms": {"equipment": {"fr": {"template": "other", "rules": {"warm": rule}}}},
        "notifiers": {
            "sms": {"type": "twilio_sms", "from_number": OUR_NUMBER, **twilio},
            "phone": {"type": "twilio_voice", "from_number": OUR_NUMBER, **twilio},
            "mail": {"type": "email", "host": "127.0.0.1", "port": ports["smtp"]}
            | {"security": "none", "username": "coldwatch", "from_address": "cw@x.org"},
            "slack": {"type": "webhook", "format": "slack_text"},
            "teams": {"type": "webhook", "format": "teams_adaptive"},
            "hook": {"type": "webhook", "headers": {"X-Source": "coldwatch"}},
            "gone": {"type": "webhook"},
            "horn": {"type": "horn", "host": "127.0.0.1", "port": ports["horn"], "coil": 1},
            "log": {"type": "outbox", "path": str(tmp / "state" / "outbox.jsonl")},
        },
        "people": people,
        "escalation": {
            "policies": {"cold": {"tiers": [{"notify": [f"person:{p['id']}" for p in people]}]}},
            "default_policy": "cold",
        },
        "acknowledgement": {
            "twilio": {"mode": "webhook", "port": ports["twilio"], **twilio},
        },
    }


class Records(logging.Handler):
    """Every log record of the run, with its arguments, extras and traceback, as text."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.texts: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.name.startswith(PEER_LOGGERS):
            return
        self.texts.append(f"{record.name}: {record.getMessage()} {record.__dict__!r}")
        if record.exc_info:
            self.texts.append(logging.Formatter().formatException(record.exc_info))


@pytest.fixture
def records() -> Iterator[Records]:
    handler, root = Records(), logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield handler
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


def forms(needle: str) -> list[bytes]:
    """The needle, and the core of its base64 at each alignment (an HTTP Basic or SMTP AUTH
    PLAIN credential written to a log would hold it that way)."""
    raw = needle.encode()
    found = [raw]
    for offset in range(3):
        encoded = base64.b64encode(b"\0" * offset + raw)
        found.append(encoded[4 if offset else 0 : -4])
    return found


def files_of(folder: Path) -> dict[str, bytes]:
    return {str(p): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def gather_action(twiml: str) -> str:
    action = ET.fromstring(twiml).find(".//Gather")
    assert action is not None
    return action.attrib["action"].removeprefix(BASE)


async def test_no_secret_in_the_record_the_logs_the_outbox_or_any_output(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    records: Records,
) -> None:
    monkeypatch.setattr(twilio_common, "AsyncTwilioHttpClient", TwilioCloud)
    TwilioCloud.made.clear()
    ports = {k: free_port() for k in ("horn", "mqtt", "smtp", "twilio", "api")}
    env: dict[str, str] = {}
    outputs: dict[str, str] = {}
    async with http_peer() as http:
        urls = {f"url:{r}": f"{http.base}{r}" for r in ("/ok/slack", "/echo/teams", "/ok/hook")}
        urls["url:/closed"] = f"http://127.0.0.1:{free_port()}/closed"
        data = site(tmp_path, ports)
        values = configure(data, urls, tmp_path, env)
        secret = {path: value for path, (value, _) in values.items()}
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        config = write_config(tmp_path, data, name="coldwatch.yaml")

        async def cli(*argv: str) -> int:
            code = await asyncio.to_thread(main, [*argv, "-c", str(config)])
            out = capsys.readouterr()
            outputs[" ".join(argv)] = out.out + out.err
            return code

        mqtt_password = secret[("devices", 1, "settings", "password")]
        broker_auth = password_file(tmp_path / "mqtt", "coldwatch", mqtt_password)
        async with (
            broker_on(tmp_path / "mqtt", ports["mqtt"], broker_auth),
            modbus_server(ports["horn"], Unit(coils={1: False})),
        ):
            with smtp_peer(ports["smtp"], secret[("notifiers", "mail", "password")]) as smtp:
                daemon = Daemon(load(config))
                await daemon.start()
                try:
                    await _exercise(daemon, http, smtp, secret)
                    while_running = files_of(tmp_path / "state")
                    assert await cli("alarms", "list") == 0, outputs
                    assert await cli("status") == 0, outputs
                    assert await cli("verify") == 0, outputs
                finally:
                    await daemon.stop()
        for argv in (
            ("check-config", "-v"),
            ("check-config", "--without-secrets"),
            ("status", "--format", "json"),
            ("verify",),
            ("readings", "--channel", "fr.temp"),
            ("readings", "--channel", "fr.mq", "--format", "json"),
            ("route-test", "--channel", "fr.temp", "--condition", "high"),
        ):
            assert await cli(*argv) == 0, outputs
        data["notifiers"]["hook"]["colour"] = "red"  # errors beside the secrets
        data["devices"][1]["settings"]["qos"] = 7
        write_config(tmp_path, data, name="coldwatch.yaml")
        assert await cli("check-config") == 2
        assert "colour" in outputs["check-config"] and "qos" in outputs["check-config"]
    out = capsys.readouterr()
    places = {
        **{f"file {k} (daemon running)": v for k, v in while_running.items()},
        **{f"file {k}": v for k, v in files_of(tmp_path / "state").items()},
        **{f"output of coldwatch {k}": v.encode() for k, v in outputs.items()},
        "stdout and stderr": (out.out + out.err).encode(),
        "log records": "\n".join(records.texts).encode(),
    }
    assert f"file {tmp_path / 'state' / 'outbox.jsonl'}" in places  # the outbox is scanned
    leaks = [
        f"{'.'.join(map(str, path))} in {place}"
        for path, (_, needle) in values.items()
        for place, content in places.items()
        if any(form in content for form in forms(needle))
    ]
    assert leaks == [], "\n".join(leaks)
    _stored_redacted(tmp_path / "state" / "cw.db")


async def _exercise(daemon: Daemon, http: Any, smtp: Any, secret: dict[Path_, str]) -> None:
    """Pages everyone, proves each secret reached its peer, acknowledges with the PINs."""
    assert daemon.alarms is not None and daemon.ack is not None
    assert daemon.ack.webhook is not None

    async def paged() -> bool:
        kinds = {r["uri"].rsplit("/", 1)[-1] for r in TwilioCloud.requests()}
        return (
            {"Messages.json", "Calls.json"} <= kinds
            and bool(daemon.store.readings("fr.mq"))  # the broker took the MQTT password
            and bool(smtp.messages and http.to("/ok/slack") and http.to("/ok/hook"))
            and bool(http.to("/echo/teams"))
        )

    await until("every notifier to page", paged, timeout=60)
    hook = http.to("/ok/hook")[0].headers
    header = ("notifiers", "hook", "secret_headers")
    assert hook["X-Api-Key"] == secret[(*header, "X-Api-Key", "value")]
    assert hook["X-Signing-Key"] == secret[(*header, "X-Signing-Key", "value")]
    assert hook["Authorization"] == f"Bearer {secret[('notifiers', 'hook', 'bearer_token')]}"
    assert set(smtp.logins) == {"coldwatch"}  # AUTH with the password succeeded
    assert {r["auth"] for r in TwilioCloud.requests()} == {
        (ACCOUNT, secret[("notifiers", "sms", "auth_token")]),
        (ACCOUNT, secret[("notifiers", "phone", "auth_token")]),
    }
    (view,) = [v for v in daemon.alarms.active() if v.key == "fr.temp/warm"]
    token = secret[("acknowledgement", "twilio", "auth_token")]
    pins = {p: secret[("people", i, "pin")] for i, p in enumerate(("alice", "bob", "carol"))}
    port = daemon.ack.webhook.port
    async with aiohttp.ClientSession() as session:
        call = next(r for r in TwilioCloud.requests() if r["uri"].endswith("Calls.json"))
        action = gather_action(str(call["data"]["Twiml"]))
        form = {"CallSid": "CA" + "3" * 32, "To": BOB, "Digits": "1"}
        async with await signed_post(session, port, action, form, token=token) as answer:
            action = gather_action(await answer.text())
        form["Digits"] = pins["bob"]
        async with await signed_post(session, port, action, form, token=token) as answer:
            assert "is acknowledged" in await answer.text()
        for n, (phone, body) in enumerate(
            [
                (ALICE, f"ACK {view.code} {pins['alice']}"),
                (ALICE, f"ACK {view.code} {pins['alice']} moved to BF-02"),
                (CAROL, f"ACK {view.code} {pins['carol']} checked"),
            ]
        ):
            params = sms_params(phone, body, sid=f"SM{n:032d}")
            async with await signed_post(session, port, "/twilio/sms", params, token=token) as r:
                assert r.status == 200


def _stored_redacted(store: Path) -> None:
    """Positive control: the stored configuration has the marker where an inline secret was."""
    with sqlite3.connect(f"file:{store}?mode=ro", uri=True) as conn:
        (effective,) = conn.execute("SELECT effective FROM config_versions").fetchone()
    stored = json.loads(effective)
    for path, source, _ in SECRET_FIELDS:
        if source == "inline":
            node: Any = stored
            for part in path:
                node = node[part]
            assert node == REDACTED, path
