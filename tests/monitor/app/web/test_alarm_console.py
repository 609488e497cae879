"""The alarm console in process: the app over ASGI in the test's event loop, with a real alarm
engine and identity on one real SQLite store. The list shows value, limit, age, SOP and the
state in words; the e-signature dialog signs (user id + password first, the password alone
later); refusals are 4xx in the dialog; the history shows the page sent and the signature's
manifestation; verify passes after the signed commands."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
import yaml

from alarms.model import AlarmState
from alarms.notify.notification_log import LogRecord
from alarms.records.notification_log import SQLiteLog
from monitor.app.cli import main as cli_main
from monitor.app.web.app import create_app
from monitor.app.web.auth import SESSION_COOKIE, csrf_token_for
from monitor.app.web.config import WebConfig
from monitor.app.web.context import WebContext
from monitor.core.clock import FakeClock
from monitor.core.metrics import Metrics
from monitor.identity.roles import Role
from monitor.identity.signing import SigningService
from monitor.store.writer import StoreWriter
from tests.alarms.conftest import engine_factory  # noqa: F401
from tests.support.alarm_engine import KEY, Factory, Harness, cfg
from tests.support.identity_web import PASSWORD, add_user, console_identity

SOP = "Move the product to the backup freezer; call QA."
SAFE = "Acknowledged: product checked and safe"
SHELVED = "Shelved: the cause is known and being dealt with"
HIDDEN_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@dataclass
class Console:
    harness: Harness
    client: httpx.AsyncClient
    log: SQLiteLog
    attempts: list[str]

    async def sign_in(self, user_id: str) -> str:
        form = await self.client.get("/signin")
        token = HIDDEN_CSRF.search(form.text)
        assert token is not None
        answer = await self.client.post(
            "/signin",
            data={"user_id": user_id, "password": PASSWORD, "csrf_token": token.group(1)},
        )
        assert answer.status_code == 303, answer.text
        return csrf_token_for(self.client.cookies[SESSION_COOKIE])

    async def sign(self, action: str, csrf: str | None, **form: str) -> httpx.Response:
        data = {"meaning": SAFE, "comment": "checked the freezer", "password": PASSWORD, **form}
        if csrf is not None:
            data["csrf_token"] = csrf
        return await self.client.post(f"/alarms/{self.code}/{action}", data=data)

    @property
    def code(self) -> str:
        code = self.harness.view(KEY).code
        assert code is not None
        return code


@pytest.fixture
async def console(
    engine_factory: Factory,  # noqa: F811
    tmp_path: Path,
    clock: FakeClock,
) -> AsyncIterator[Console]:
    harness = await engine_factory(**cfg(contingency=SOP))
    store_file = tmp_path / "cw.db"
    settings = WebConfig()
    ids = console_identity(store_file, clock, settings)
    for role in Role:
        add_user(ids.records, role.value, role, at=clock.now())
    log = SQLiteLog(store_file)
    context = WebContext(
        settings,
        "test",
        "Test site",
        clock,
        StoreWriter(harness.store, clock, Metrics()),
        identity=ids.service,
        users=ids.admin,
        alarms=harness.engine,
        signing=SigningService(ids.service, settings.signatures, lambda: True),
        commands=harness.engine,
        pages_sent=log,
        timezone="Europe/Berlin",
    )
    transport = httpx.ASGITransport(app=create_app(context), client=("127.0.0.1", 50000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield Console(harness, client, log, [])
    log.close()
    ids.close()


async def raise_alarm(console: Console) -> None:
    await console.harness.push("box.t", 12.5, 0)
    await console.harness.to(90)
    assert console.harness.state(KEY) is AlarmState.UNACK


async def test_the_list_shows_value_limit_age_sop_and_the_state_in_words(
    console: Console,
) -> None:
    await raise_alarm(console)
    await console.sign_in("viewer")
    page = await console.client.get("/alarms")
    assert page.status_code == 200
    text = page.text
    assert console.code in text
    assert "12.5 C" in text and "10 C" in text
    assert "1 min 30 s" in text  # raised at t=0, read at t=90 s
    assert SOP in text
    assert "active, not acknowledged" in text
    assert "Not acknowledged (1)" in text and "Shelved (0)" in text
    # a viewer sees no signing dialog
    alarm = await console.client.get(f"/alarms/{console.code}")
    assert alarm.status_code == 200 and "e-signature" not in alarm.text


async def test_acknowledge_then_shelve_signed_and_the_history_shows_both(
    console: Console, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    await raise_alarm(console)
    console.log.append(
        LogRecord(
            key=f"{KEY}#1", alarm_id=console.code, person_id="alice", channel="sms",
            attempt=1, status="sent", at=console.harness.clock.now(),
        )
    )  # fmt: skip
    csrf = await console.sign_in("supervisor")
    alarm = await console.client.get(f"/alarms/{console.code}")
    assert 'name="user_id"' in alarm.text  # the first signing: user id asked for
    # the first signing without the user id is refused, in the dialog
    refused = await console.sign("acknowledge", csrf)
    assert refused.status_code == 400
    assert "needs your user id and password" in refused.text
    signed = await console.sign("acknowledge", csrf, user_id="supervisor")
    assert signed.status_code == 303, signed.text
    assert signed.headers["location"] == f"/alarms/{console.code}"
    assert console.harness.state(KEY) is AlarmState.ACKED
    page = await console.client.get(signed.headers["location"])
    assert 'name="user_id"' not in page.text  # later signings: the password alone
    assert "Signed by Supervisor Tester on 2026-03-01 12:01:30 UTC" in page.text
    assert "(2026-03-01 13:01:30 CET): " + SAFE in page.text
    assert "page sent" in page.text and "alice" in page.text and "sms" in page.text
    shelved = await console.sign("shelve", csrf, meaning=SHELVED, hours="2")
    assert shelved.status_code == 303, shelved.text
    view = console.harness.view(KEY)
    assert view.state is AlarmState.SHELVED
    assert view.shelved_until == console.harness.clock.now() + timedelta(hours=2)
    listing = (await console.client.get("/alarms")).text
    assert "Shelved (1)" in listing and "Not acknowledged (0)" in listing
    assert "⏸ shelved" in listing and "Shelved until</dt><dd>2026-03-01 14:01:30 UTC" in listing
    credentials = [s.signature.credentials for s in console.harness.store.signatures()]
    assert credentials == ["user_id_and_password", "password"]
    result = console.harness.store.verify()
    assert result.ok and result.signatures == 2
    assert verify(tmp_path, capsys) == 0


def verify(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> int:
    """``coldwatch verify`` (in process: the tests' fake driver is registered here) on the
    console's store file."""
    data = yaml.safe_load((tmp_path / "cfg0" / "alarms.yaml").read_text())
    data["store"] = {"path": str(tmp_path / "cw.db")}
    config = tmp_path / "verify.yaml"
    config.write_text(yaml.safe_dump(data))
    capsys.readouterr()
    rc = cli_main(["verify", "-c", str(config)])
    out = capsys.readouterr().out
    assert "electronic signatures: 2 bound" in out, out
    assert "FAILED" not in out, out
    return rc


async def test_refusals_are_4xx_in_the_dialog_and_a_wrong_password_counts(
    console: Console,
) -> None:
    await raise_alarm(console)
    csrf = await console.sign_in("technician")
    bad_meaning = await console.sign("acknowledge", csrf, user_id="technician", meaning="Fine")
    assert bad_meaning.status_code == 400 and "choose one of the meanings" in bad_meaning.text
    for attempt in range(4):
        wrong = await console.sign(
            "acknowledge", csrf, user_id="technician", password="not the password"
        )
        assert wrong.status_code == 401, (attempt, wrong.text)
        assert "not accepted" in wrong.text
    locked = await console.sign("acknowledge", csrf, user_id="technician", password="nope")
    assert locked.status_code == 423 and "locked" in locked.text  # the fifth failure locks
    # locked: even the right password is refused now
    still = await console.sign("acknowledge", csrf, user_id="technician")
    assert still.status_code in (401, 423)
    assert console.harness.state(KEY) is AlarmState.UNACK
    assert console.harness.store.signatures() == []


async def test_roles_and_csrf_are_enforced(console: Console) -> None:
    await raise_alarm(console)
    viewer_csrf = await console.sign_in("viewer")
    assert (await console.sign("acknowledge", viewer_csrf, user_id="viewer")).status_code == 403
    await console.client.post("/signout", data={"csrf_token": viewer_csrf})
    console.client.cookies.clear()
    csrf = await console.sign_in("technician")
    shelve = await console.sign("shelve", csrf, user_id="technician", meaning=SHELVED, hours="1")
    assert shelve.status_code == 403
    assert (await console.sign("acknowledge", None, user_id="technician")).status_code == 403
    # an engine refusal is a 4xx too: a technician acknowledges an alarm that is not there
    gone = await console.client.post(
        "/alarms/A9999/acknowledge",
        data={"meaning": SAFE, "comment": "x", "password": PASSWORD,
              "user_id": "technician", "csrf_token": csrf},
    )  # fmt: skip
    assert 400 <= gone.status_code < 500
    assert console.harness.state(KEY) is AlarmState.UNACK
