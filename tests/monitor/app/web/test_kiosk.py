"""The wall screen's token exchange over real HTTP: viewer tokens only, into an HttpOnly
SameSite=Strict cookie, the token out of the address bar and never echoed; the kiosk read-only
and without navigation."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from monitor.app.web.auth import KIOSK_COOKIE
from monitor.identity.roles import Role
from monitor.runtime.live import LiveValues
from tests.support.dashboard import small_site
from tests.support.identity_web import add_user, api_token, bearer
from tests.support.web import ThreadedConsole


@pytest.fixture(scope="module")
def console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ThreadedConsole]:
    folder = tmp_path_factory.mktemp("kiosk")
    live = LiveValues(small_site())
    with ThreadedConsole(folder, site_config=small_site(), live=live) as served:
        yield served


def test_the_kiosk_takes_a_viewer_token_once_into_a_strict_httponly_cookie(
    console: ThreadedConsole,
) -> None:
    token = api_token(console.identity.records, Role.VIEWER)
    with httpx.Client(base_url=console.url, timeout=10) as client:
        entered = client.get("/kiosk/enter", params={"token": token})
        assert entered.status_code == 303 and entered.headers["location"] == "/kiosk"
        assert entered.headers["referrer-policy"] == "no-referrer"
        cookie = entered.headers["set-cookie"].lower()
        assert cookie.startswith(f"{KIOSK_COOKIE}=")
        assert "httponly" in cookie and "samesite=strict" in cookie and "path=/" in cookie
        assert "secure" not in cookie  # plain http here; Secure over https
        page = client.get("/kiosk")
        assert page.status_code == 200
        assert 'id="tile-freezer-1"' in page.text
        assert "Sign out" not in page.text and "<nav" not in page.text  # no navigation
        with client.stream("GET", "/api/events/live") as stream:
            assert stream.status_code == 200
        # read-only: the cookie is not a principal for a state-changing request
        assert client.post("/signout").status_code == 303
        assert client.get("/api/overview").status_code in (200, 401)


def test_the_kiosk_refuses_other_roles_and_bad_tokens(console: ThreadedConsole) -> None:
    add_user(console.identity.records, "tess", Role.TECHNICIAN)
    technician = api_token(console.identity.records, Role.TECHNICIAN, owner="tess")
    with httpx.Client(base_url=console.url, timeout=10) as client:
        for token, status in ((technician, 403), ("not-a-token", 403), ("", 400)):
            answer = client.get("/kiosk/enter", params={"token": token})
            assert answer.status_code == status, answer.text
            assert "set-cookie" not in answer.headers
            assert not token or token not in answer.text  # never echoed
        # a technician's token in the cookie by hand is no viewer: the kiosk is not shown
        client.cookies.set(KIOSK_COOKIE, technician)
        assert client.get("/kiosk").status_code == 303
        assert client.get("/api/overview", headers=bearer(technician)).status_code == 200
