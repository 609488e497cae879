"""Signing in, as a timeline on the injected clock: idle and absolute session timeouts, a
one-time password that must be changed before anything else, the sign-in rate limit, the
Secure cookie over TLS, and the users pages (an admin adds a user and resets a password)."""

from __future__ import annotations

import re
import ssl
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from monitor.app.web.auth import SESSION_COOKIE
from monitor.app.web.signin import BURST
from monitor.core.clock import FakeClock
from monitor.identity.roles import Role
from tests.support.identity_web import (
    HIDDEN_CSRF,
    PASSWORD,
    add_user,
    csrf_of,
    sign_in,
    signed_in,
)
from tests.support.web import ThreadedConsole, self_signed

IDLE = 15 * 60.0
ABSOLUTE = 3600.0


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(datetime(2026, 3, 1, 12, 0, tzinfo=UTC))


@pytest.fixture
def console(tmp_path: Path, clock: FakeClock) -> Iterator[ThreadedConsole]:
    session = {"idle_timeout": IDLE, "absolute_timeout": ABSOLUTE}
    with ThreadedConsole(tmp_path, clock=clock, session=session) as served:
        add_user(served.identity.records, "tess", Role.TECHNICIAN, at=clock.now())
        yield served


def test_a_session_ends_after_its_idle_timeout(console: ThreadedConsole, clock: FakeClock) -> None:
    with httpx.Client(base_url=console.url, timeout=10) as client:
        signed_in(client, "tess")
        clock.step_wall(IDLE - 1)  # t = idle - 1 s: still in
        assert client.get("/account").status_code == 200
        clock.step_wall(IDLE - 1)  # measured from the last request: still in
        assert client.get("/account").status_code == 200
        clock.step_wall(IDLE)  # a whole idle timeout without a request: out
        ended = client.get("/account")
        assert ended.status_code == 303 and ended.headers["location"] == "/signin?next=/account"
        assert client.get("/api/alarms").status_code == 401
    ends = [e for e in console.identity.audit if e.action == "session_ended"]
    assert [e.reason for e in ends] == ["idle_timeout"]


def test_a_session_ends_at_its_absolute_timeout_however_busy(
    console: ThreadedConsole, clock: FakeClock
) -> None:
    with httpx.Client(base_url=console.url, timeout=10) as client:
        signed_in(client, "tess")
        for _ in range(int(ABSOLUTE // (IDLE - 60))):
            clock.step_wall(IDLE - 60)
            assert client.get("/account").status_code == 200
        clock.step_wall(ABSOLUTE - int(ABSOLUTE // (IDLE - 60)) * (IDLE - 60))  # t = absolute
        assert client.get("/account").status_code == 303
    ends = [e for e in console.identity.audit if e.action == "session_ended"]
    assert [e.reason for e in ends] == ["absolute_timeout"]


def test_a_one_time_password_forces_the_change_before_anything_else(
    console: ThreadedConsole, clock: FakeClock
) -> None:
    records = console.identity.records
    add_user(records, "otto", Role.VIEWER, password="onetime12345678", one_time=True)
    with httpx.Client(base_url=console.url, timeout=10) as client:
        answer = sign_in(client, "otto", "onetime12345678", next_path="/account")
        assert answer.status_code == 200 and "Choose a password" in answer.text
        assert SESSION_COOKIE not in client.cookies  # no session with a one-time password
        assert client.get("/account").status_code == 303
        token = HIDDEN_CSRF.search(answer.text)
        assert token is not None
        form = {
            "user_id": "otto",
            "current": "onetime12345678",
            "csrf_token": token.group(1),
            "next": "/account",
        }
        short = client.post("/signin/password", data={**form, "new": "short", "repeat": "short"})
        assert short.status_code == 400 and "at least 12 characters" in short.text
        token = HIDDEN_CSRF.search(short.text)
        assert token is not None
        chosen = "my own good passphrase"
        done = client.post(
            "/signin/password",
            data={**form, "csrf_token": token.group(1), "new": chosen, "repeat": chosen},
        )
        assert done.status_code == 303 and done.headers["location"] == "/account"
        assert client.get("/account").status_code == 200
    with httpx.Client(base_url=console.url, timeout=10) as again:
        assert sign_in(again, "otto", "onetime12345678").status_code == 401
        assert sign_in(again, "otto", chosen).status_code == 303


def test_failed_sign_ins_are_rate_limited_per_address_with_429(console: ThreadedConsole) -> None:
    with httpx.Client(base_url=console.url, timeout=10) as client:
        for attempt in range(BURST):
            assert sign_in(client, f"guess{attempt}", "wrong password!").status_code == 401
        limited = sign_in(client, "tess")  # even the right password waits now
        assert limited.status_code == 429
        assert int(limited.headers["retry-after"]) >= 1
        assert "too many failed sign-ins" in limited.text


def test_failed_sign_ins_are_rate_limited_per_user_id(console: ThreadedConsole) -> None:
    throttle = console.app.state.sign_in_throttle
    for _ in range(BURST):
        throttle.failed("203.0.113.9", "tess")  # from other addresses before
    with httpx.Client(base_url=console.url, timeout=10) as client:
        assert sign_in(client, "tess").status_code == 429
        assert sign_in(client, "someone-else", PASSWORD).status_code == 401


def test_over_tls_the_session_cookie_is_secure(tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path)
    tls = {"cert_file": str(cert), "key_file": str(key)}
    with ThreadedConsole(tmp_path, tls=tls) as served:
        add_user(served.identity.records, "tess", Role.TECHNICIAN)
        trust = ssl.create_default_context(cafile=str(cert))
        with httpx.Client(base_url=served.url, timeout=10, verify=trust) as client:
            answer = sign_in(client, "tess")
            assert answer.status_code == 303
            cookie = next(
                c for c in answer.headers.get_list("set-cookie") if c.startswith(SESSION_COOKIE)
            )
            flags = {part.strip().lower() for part in cookie.split(";")[1:]}
            assert {"secure", "httponly", "samesite=strict", "path=/"} <= flags


def test_behind_an_https_proxy_the_session_cookie_is_secure(tmp_path: Path) -> None:
    with ThreadedConsole(tmp_path, public_url="https://coldwatch.example.org/") as served:
        add_user(served.identity.records, "tess", Role.TECHNICIAN)
        with httpx.Client(base_url=served.url, timeout=10) as client:
            form = client.get("/signin")
            assert "secure" in form.headers["set-cookie"].lower()


def test_an_admin_adds_a_user_and_resets_a_password_on_the_users_page(
    console: ThreadedConsole, clock: FakeClock
) -> None:
    add_user(console.identity.records, "ada", Role.ADMIN, at=clock.now())
    add_user(console.identity.records, "leo", Role.VIEWER, at=clock.now())
    with (
        httpx.Client(base_url=console.url, timeout=10) as client,
        httpx.Client(base_url=console.url, timeout=10) as leaving,
    ):
        signed_in(leaving, "leo")
        csrf = signed_in(client, "ada")
        gone = client.post("/users/leo/disable", data={"csrf_token": csrf, "reason": "left"})
        assert gone.status_code == 200 and "leo disabled" in gone.text
        assert leaving.get("/account").status_code == 303  # the session ended with the user
        added = client.post(
            "/users",
            data={
                "csrf_token": csrf,
                "user_id": "nina",
                "name": "Nina New",
                "role": "technician",
                "reason": "joins the night shift",
                # a field naming someone else is ignored: the actor is the signed-in admin
                "verified_by": "tess",
            },
        )
        assert added.status_code == 200, added.text
        assert added.headers["cache-control"] == "no-store"
        otp = r"One-time password for nina</h2>.*?<code>([A-Za-z0-9]{16})</code>"
        shown = re.search(otp, added.text, re.S)
        assert shown is not None
        nina = console.identity.records.user("nina")
        assert nina is not None and nina.verified_by == "ada" and nina.changed_by == "ada"
        assert nina.password_one_time
        refused = client.post(
            "/users/tess/role", data={"csrf_token": csrf, "role": "nonsense", "reason": "x"}
        )
        assert refused.status_code == 422
        reset = client.post(
            "/users/tess/reset-password", data={"csrf_token": csrf, "reason": "forgot it"}
        )
        assert reset.status_code == 200 and "One-time password for tess" in reset.text
        own = client.post("/users/ada/reset-password", data={"csrf_token": csrf, "reason": "x"})
        assert own.status_code == 400 and "change your own password" in own.text
        assert csrf_of(client) == csrf  # the admin's session goes on
    with httpx.Client(base_url=console.url, timeout=10) as newcomer:
        first = sign_in(newcomer, "nina", shown.group(1))
        assert first.status_code == 200 and "Choose a password" in first.text
    actions = [(e.action, e.actor, e.source) for e in console.identity.audit]
    assert ("user_added", "ada", "web") in actions
    assert ("user_password_reset", "ada", "web") in actions
    assert ("user_disabled", "ada", "web") in actions
