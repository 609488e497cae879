"""The dashboard over real HTTP: the tiles on the landing page, and the live stream (signed in
only; every tile first, then what changed; a reconnect with the last id)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from monitor.core.model import Reading
from monitor.identity.roles import Role
from monitor.runtime.live import LiveValues
from tests.support.dashboard import small_site
from tests.support.identity_web import add_user, signed_in
from tests.support.web import ThreadedConsole

CAB = "freezer-1.cabinet"


@pytest.fixture(scope="module")
def live() -> LiveValues:
    return LiveValues(small_site())


@pytest.fixture(scope="module")
def console(
    tmp_path_factory: pytest.TempPathFactory, live: LiveValues
) -> Iterator[ThreadedConsole]:
    folder = tmp_path_factory.mktemp("dash")
    with ThreadedConsole(folder, site_config=small_site(), live=live) as served:
        add_user(served.identity.records, "vic", Role.VIEWER)
        yield served


def feed(console: ThreadedConsole, reading: Reading) -> None:
    """A reading as the pipeline gives it: on the console's event loop."""
    assert console._loop is not None
    console._loop.call_soon_threadsafe(console.context.live.on_reading, reading)  # type: ignore[union-attr]


def next_event(lines: Iterator[str]) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    for line in lines:
        if not line:
            if "data" in fields:
                return fields
            continue
        name, _, value = line.partition(": ")
        fields[name] = json.loads(value) if name == "data" else value
    raise AssertionError("the stream ended")


def test_the_landing_page_is_the_dashboard_with_every_unit(console: ThreadedConsole) -> None:
    feed(console, Reading.good(CAB, datetime.now(UTC), -80.04))
    with httpx.Client(base_url=console.url, timeout=10) as client:
        signed_in(client, "vic")
        page = client.get("/")
    assert page.status_code == 200
    text = page.text
    assert "<h1>Dashboard</h1>" in text and "Room A" in text
    for unit in ("freezer-1", "freezer-2", "dewar-1"):
        assert f'id="tile-{unit}"' in text and f'href="/equipment/{unit}"' in text
    assert '<span class="value">-80.0</span> <span class="unit">C</span>' in text
    assert "NO DATA" in text  # freezer-2 and the dewar have none yet
    assert 'data-live-src="/api/events/live"' in text and "/static/js/live.js" in text


def test_the_live_stream_sends_every_tile_then_what_changed(console: ThreadedConsole) -> None:
    with httpx.Client(base_url=console.url, timeout=10) as client:
        signed_in(client, "vic")
        with client.stream("GET", "/api/events/live") as stream:
            assert stream.status_code == 200
            assert stream.headers["content-type"].startswith("text/event-stream")
            lines = stream.iter_lines()
            first = next_event(lines)
            assert first["event"] == "tiles"
            assert set(first["data"]["tiles"]) == {"freezer-1", "freezer-2", "dewar-1"}
            feed(console, Reading.good("freezer-2.cabinet", datetime.now(UTC), -70.126))
            second = next_event(lines)
            assert set(second["data"]["tiles"]) == {"freezer-2"}
            assert '<span class="value">-70.13</span>' in second["data"]["tiles"]["freezer-2"]
            last_id = second["id"]
        # a reconnect with the last id: nothing again until something changes
        headers = {"Last-Event-ID": last_id}
        with client.stream("GET", "/api/events/live", headers=headers) as stream:
            lines = stream.iter_lines()
            feed(console, Reading.good("freezer-2.cabinet", datetime.now(UTC), -70.0))
            third = next_event(lines)
            assert set(third["data"]["tiles"]) == {"freezer-2"}


def test_the_live_stream_refuses_an_anonymous_caller_and_takes_any_event_id(
    console: ThreadedConsole,
) -> None:
    with httpx.Client(base_url=console.url, timeout=10) as client:
        assert client.get("/api/events/live").status_code == 401
        signed_in(client, "vic")
        headers = {"Last-Event-ID": "x" * 2000}  # not ours: every tile, as for a new client
        with client.stream("GET", "/api/events/live", headers=headers) as stream:
            assert stream.status_code == 200
            tiles = next_event(stream.iter_lines())["data"]["tiles"]
            assert set(tiles) == {"freezer-1", "freezer-2", "dewar-1"}
