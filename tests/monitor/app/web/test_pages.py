"""The pages: every script and style sheet comes from the console itself (nothing from the
internet, no inline script), htmx is the vendored file with its licence, and the layout is
made for a phone's screen."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from monitor.app.web.pages import STATIC
from monitor.identity.roles import Role
from tests.support.identity_web import add_user, signed_in
from tests.support.web import HTMX_PATH, HTMX_SHA256, ThreadedConsole

#: Every page of the console (the alarm and audit pages join this list).
PAGES = ["/", "/signin", "/account", "/users"]


class Assets(HTMLParser):
    """The addresses a page loads (scripts, style sheets, images, frames) and inline scripts."""

    def __init__(self) -> None:
        super().__init__()
        self.loaded: list[str] = []
        self.inline_scripts = 0
        self.viewport: str | None = None
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "script":
            self._in_script = True
            if values.get("src"):
                self.loaded.append(values["src"] or "")
        elif tag == "link" and values.get("href"):
            self.loaded.append(values["href"] or "")
        elif tag in ("img", "iframe", "source", "audio", "video", "embed") and values.get("src"):
            self.loaded.append(values["src"] or "")
        elif tag == "meta" and values.get("name") == "viewport":
            self.viewport = values.get("content")
        if any(name.startswith("on") for name, _ in attrs):
            self.inline_scripts += 1
        if tag == "style" or "style" in values:
            self.inline_scripts += 1  # the CSP refuses inline styles: none may rely on them

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script and data.strip():
            self.inline_scripts += 1


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpx.Client]:
    with (
        ThreadedConsole(tmp_path_factory.mktemp("web")) as console,
        httpx.Client(base_url=console.url, timeout=10) as http,
    ):
        add_user(console.identity.records, "ada", Role.ADMIN)
        signed_in(http, "ada")
        yield http


@pytest.mark.parametrize("page", PAGES)
def test_a_page_loads_only_from_its_own_origin(client: httpx.Client, page: str) -> None:
    response = client.get(page, headers={"accept": "text/html"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assets = Assets()
    assets.feed(response.text)
    assert assets.inline_scripts == 0
    assert HTMX_PATH in assets.loaded
    for address in assets.loaded:
        parts = urlsplit(address)
        assert not parts.scheme and not parts.netloc, f"{page} loads {address} from elsewhere"
        assert address.startswith("/"), address
        loaded = client.get(address)
        assert loaded.status_code == 200, address
    assert assets.viewport == "width=device-width, initial-scale=1"


def test_htmx_is_the_vendored_release_with_its_licence(client: httpx.Client) -> None:
    response = client.get(HTMX_PATH)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/javascript")
    assert hashlib.sha256(response.content).hexdigest() == HTMX_SHA256
    assert b'version:"2.0.' in response.content
    folder = STATIC / "vendor" / "htmx"
    assert "Zero-Clause BSD" in (folder / "LICENSE").read_text()
    readme = (folder / "README.md").read_text()
    assert HTMX_SHA256 in readme and "htmx.org-2.0." in readme


def test_the_style_sheet_adapts_to_a_narrow_screen(client: httpx.Client) -> None:
    css = client.get("/static/css/coldwatch.css").text
    assert "@media (max-width:" in css
    assert "@import" not in css and "url(" not in css  # nothing fetched from elsewhere


def test_the_static_files_are_package_data() -> None:
    import tomllib

    from tests.support.paths import REPO

    project = tomllib.loads((REPO / "pyproject.toml").read_text())
    patterns = project["tool"]["setuptools"]["package-data"]["monitor"]
    package = REPO / "monitor"
    shipped = {p for pattern in patterns for p in package.glob(pattern)}
    for file in Path(STATIC).rglob("*"):
        if file.is_file():
            assert file in shipped, f"{file} would not be installed"
    for file in (STATIC.parent / "templates").glob("*"):
        assert file in shipped, f"{file} would not be installed"
