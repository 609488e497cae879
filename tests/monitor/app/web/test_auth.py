"""Who may use the console: every route refuses an anonymous caller (but the sign-in page,
static files and /healthz), the role matrix per route from monitor/identity/roles.py, CSRF on
every state-changing request, and the session cookie's flags. Served over real HTTP with a real
SQLite store."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute, iter_route_contexts
from starlette.routing import Mount

from monitor.app.web.app import create_app
from monitor.app.web.auth import PUBLIC_PATHS, SESSION_COOKIE
from monitor.identity.roles import Permission, Role, allows
from tests.support.identity_web import add_user, api_token, bearer, csrf_of, sign_in, signed_in
from tests.support.web import ThreadedConsole

PATH_VALUES = {"user_id": "vic", "target": "A1000", "equipment_id": "freezer-07"}
STATE_CHANGING = {"POST", "PUT", "PATCH", "DELETE"}
STREAMS = {"/api/events/heartbeat", "/api/events/live"}  # event streams: read the status only


def operations(console: ThreadedConsole) -> list[tuple[str, str, frozenset[Permission] | None]]:
    """Every (method, path, permissions) of the app; permissions None: the route declares
    none (a public route, or a new route someone forgot to protect)."""
    return routes_of(console.app)


def routes_of(app: FastAPI) -> list[tuple[str, str, frozenset[Permission] | None]]:
    out = []
    for context in iter_route_contexts(app.routes):
        route = context.original_route
        if isinstance(route, Mount):
            assert route.path == "/static", route.path  # the only mount
            continue
        assert isinstance(route, APIRoute), route
        declared = [getattr(dep.call, "permissions", None) for dep in route.dependant.dependencies]
        permissions = next((p for p in declared if p), None)
        assert context.path_format is not None and context.methods is not None
        path = context.path_format.format(**PATH_VALUES)
        for method in sorted(context.methods - {"HEAD"}):
            out.append((method, path, permissions))
    return out


@pytest.fixture(scope="module")
def console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ThreadedConsole]:
    with ThreadedConsole(tmp_path_factory.mktemp("auth")) as served:
        for role in Role:
            add_user(served.identity.records, role.value, role)
        add_user(served.identity.records, "vic", Role.VIEWER)
        yield served


def test_every_route_but_sign_in_static_and_healthz_refuses_an_anonymous_caller(
    console: ThreadedConsole,
) -> None:
    ops = operations(console)
    assert len(ops) >= 15, ops
    with httpx.Client(base_url=console.url, timeout=10) as client:
        for method, path, permissions in ops:
            if path in PUBLIC_PATHS:
                assert permissions is None, path
                continue
            assert permissions, f"{method} {path} declares no permission (auth.require)"
            answer = client.request(method, path, headers={"accept": "text/html"})
            if path.startswith("/api/"):
                assert answer.status_code == 401, (method, path, answer.text)
                assert answer.json()["reason"] == "unauthenticated"
                assert answer.headers["www-authenticate"].startswith("Bearer")
            else:
                assert answer.status_code == 303, (method, path, answer.text)
                target = urlsplit(answer.headers["location"])
                assert target.path == "/signin" and not target.netloc
                if path != "/":
                    assert parse_qs(target.query)["next"] == [path]
        assert client.get("/healthz").status_code == 200
        assert client.get("/signin").status_code == 200
        assert client.get("/static/css/coldwatch.css").status_code == 200
        # the sign-in page refuses a post without its form's token
        form = {"user_id": "a", "password": "b", "csrf_token": "x"}
        assert client.post("/signin", data=form).status_code == 403


def test_a_route_without_a_permission_is_caught(tmp_path: Path) -> None:
    """The route test above fails for a route that forgot its permission."""
    with ThreadedConsole(tmp_path) as served:

        @served.app.get("/api/forgotten")
        async def forgotten() -> dict[str, str]:
            return {}

        bare = [(m, p) for m, p, perms in operations(served) if not perms]
        assert ("GET", "/api/forgotten") in bare


@pytest.mark.parametrize("role", list(Role))
def test_the_role_matrix_per_route(console: ThreadedConsole, role: Role) -> None:
    """Every role x every route: allowed (not 401, not 403) or 403, as roles.py says."""
    with httpx.Client(base_url=console.url, timeout=10) as client:
        csrf = signed_in(client, role.value)
        ops = [op for op in operations(console) if op[1] not in PUBLIC_PATHS]
        ops.sort(key=lambda op: op[1] == "/signout")  # signing out last
        for method, path, permissions in ops:
            assert permissions
            expected = any(allows(role, p) for p in permissions)
            headers = {"X-CSRF-Token": csrf} if method in STATE_CHANGING else {}
            if path in STREAMS:
                with client.stream(method, path, headers=headers) as stream:
                    status = stream.status_code
            else:
                status = client.request(method, path, headers=headers).status_code
            if expected:
                assert status not in (401, 403) and status < 500, (role, method, path, status)
            else:
                assert status == 403, (role, method, path, status)


def test_csrf_refuses_a_session_post_without_or_with_a_wrong_token(
    console: ThreadedConsole,
) -> None:
    form = {"current": "x", "new": "yyyyyyyyyyyyy", "repeat": "zzzzzzzzzzzzz"}
    with httpx.Client(base_url=console.url, timeout=10) as client:
        csrf = signed_in(client, "viewer")
        altered = csrf[:-1] + ("1" if csrf.endswith("0") else "0")  # one character off
        for extra in ({}, {"csrf_token": "0" * 64}, {"csrf_token": altered}):
            refused = client.post("/account/password", data={**form, **extra})
            assert refused.status_code == 403, extra
            assert "CSRF token" in refused.json()["error"]
        wrong_header = client.post("/account/password", data=form, headers={"X-CSRF-Token": "nope"})
        assert wrong_header.status_code == 403
        # with the session's token (field or header), the request is heard: passwords differ
        heard = client.post("/account/password", data={**form, "csrf_token": csrf})
        assert heard.status_code == 400
        heard = client.post("/account/password", data=form, headers={"X-CSRF-Token": csrf})
        assert heard.status_code == 400
        # the token belongs to the session: another session's is refused
        with httpx.Client(base_url=console.url, timeout=10) as other:
            signed_in(other, "vic")
            theirs = {**form, "csrf_token": csrf_of(other)}
            assert client.post("/account/password", data=theirs).status_code == 403


def test_an_api_token_needs_no_csrf_and_holds_its_role(console: ThreadedConsole) -> None:
    token = api_token(console.identity.records, Role.VIEWER)
    with httpx.Client(base_url=console.url, timeout=10, headers=bearer(token)) as client:
        assert client.get("/api/alarms").json() == {"alarms": []}
        assert client.get("/api/openapi.json").status_code == 200
        assert client.get("/users").status_code == 403
        assert client.post("/users/vic/disable", data={"reason": "x"}).status_code == 403
    bad = httpx.get(console.url + "api/alarms", headers=bearer("not-a-token"), timeout=10)
    assert bad.status_code == 401


def test_the_session_cookie_is_httponly_samesite_strict_and_not_secure_over_http(
    console: ThreadedConsole,
) -> None:
    with httpx.Client(base_url=console.url, timeout=10) as client:
        answer = sign_in(client, "vic", next_path="/account")
        assert answer.status_code == 303 and answer.headers["location"] == "/account"
        cookie = next(
            c for c in answer.headers.get_list("set-cookie") if c.startswith(SESSION_COOKIE)
        )
        flags = {part.strip().lower() for part in cookie.split(";")[1:]}
        assert {"httponly", "samesite=strict", "path=/"} <= flags
        assert "secure" not in flags
        assert not any(f.startswith(("max-age", "expires")) for f in flags)  # ends with the browser
        assert client.get("/account").status_code == 200
        out = client.post("/signout", headers={"X-CSRF-Token": csrf_of(client)})
        assert out.status_code == 303 and out.headers["location"] == "/signin"
        assert client.get("/account").status_code == 303


def test_next_only_leads_to_a_path_on_this_site(console: ThreadedConsole) -> None:
    for target in ("//evil.example/x", "https://evil.example/", "/\\evil", "javascript:x"):
        with httpx.Client(base_url=console.url, timeout=10) as client:
            answer = sign_in(client, "vic", next_path=target)
            assert answer.headers["location"] == "/", target


def test_a_wrong_password_says_nothing_of_which_part_was_wrong(console: ThreadedConsole) -> None:
    with httpx.Client(base_url=console.url, timeout=10) as client:
        wrong = sign_in(client, "technician", "not the password at all")
        unknown = sign_in(client, "nobody-here", "not the password at all")
    assert wrong.status_code == unknown.status_code == 401
    message = re.compile(r"The user id or the password is wrong")
    assert message.search(wrong.text) and message.search(unknown.text)
    assert SESSION_COOKIE not in wrong.headers.get("set-cookie", "")


def test_the_route_list_is_the_app_the_daemon_serves(console: ThreadedConsole) -> None:
    """The routes tested here are create_app's, not the test console's additions."""
    assert routes_of(console.app) == routes_of(create_app(console.context))
