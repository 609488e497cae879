"""The live feed on virtual time: at most one combined message a second however many readings
arrive, only the tiles that changed, a client that stops reading dropped once its queue is
full (the others go on), and a reconnect with the last event id."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from monitor.app.web.app import create_app
from monitor.app.web.config import WebConfig
from monitor.app.web.context import WebContext
from monitor.app.web.live_feed import LiveClient, LiveFeed
from monitor.core.clock import FakeClock
from monitor.core.metrics import Metrics
from monitor.runtime.live import LiveValues
from monitor.store.sqlite import SQLiteStore
from monitor.store.writer import StoreWriter
from tests.support.dashboard import T0, good, small_site

CAB = "freezer-1.cabinet"


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SQLiteStore]:
    store = SQLiteStore(tmp_path / "feed.db")
    store.open()
    yield store
    store.close()


def make_feed(store: SQLiteStore, clock: FakeClock, **kw: int) -> tuple[LiveFeed, LiveValues]:
    """The feed create_app makes (the real tile template), with its queue size set."""
    live = LiveValues(small_site())
    context = WebContext(
        WebConfig(port=1),
        "t",
        "Test site",
        clock,
        StoreWriter(store, clock, Metrics()),
        site_config=small_site(),
        live=live,
    )
    made = create_app(context).state.live_feed
    feed = LiveFeed(context, made.render, **kw)
    return feed, live


def events(client: LiveClient) -> list[tuple[str, dict[str, str]]]:
    """(id, tiles) of each queued message, taken off the queue."""
    out = []
    while client.pending:
        text = client.pending.popleft().decode()
        fields = dict(line.split(": ", 1) for line in text.splitlines() if ": " in line)
        if fields.get("event") == "alive":
            continue
        out.append((fields["id"], json.loads(fields["data"])["tiles"]))
    return out


async def test_at_most_one_message_a_second_with_only_what_changed(store: SQLiteStore) -> None:
    clock = FakeClock(T0)
    feed, live = make_feed(store, clock)
    client = feed.subscribe(None)
    ((first_id, every_tile),) = events(client)
    assert set(every_tile) == {"freezer-1", "freezer-2", "dewar-1"}
    assert "NO DATA" in every_tile["freezer-1"]
    for step in range(300):  # readings at 100 Hz for three seconds
        live.on_reading(good(CAB, clock.now(), -80.0 + step / 100))
        await clock.advance(0.01)
    await clock.advance(0.005)  # past the third tick (a hundredth at a time is not exact)
    got = events(client)
    assert len(got) == 3  # one a second
    assert all(set(tiles) == {"freezer-1"} for _, tiles in got)  # only the changed tile
    ids = [first_id] + [i for i, _ in got]
    run = feed.run_id
    assert ids == [f"{run}-1", f"{run}-2", f"{run}-3", f"{run}-4"]  # -1: the first picture
    assert "-77.0" in got[-1][1]["freezer-1"] or "-77.1" in got[-1][1]["freezer-1"]
    await clock.advance(5.0)  # nothing changed: nothing sent
    assert events(client) == []
    feed.context.streams.close_all()
    await clock.advance(1.0)


async def test_a_client_that_stops_reading_is_dropped_and_counted(store: SQLiteStore) -> None:
    clock = FakeClock(T0)
    feed, live = make_feed(store, clock, client_queue=3)
    stuck = feed.subscribe(None)
    reader = feed.subscribe(None)
    for second in range(6):
        live.on_reading(good(CAB, clock.now(), -80.0 + second))
        await clock.advance(1.0)
        events(reader)  # this one reads
    assert stuck.dropped and stuck not in feed.clients and not stuck.pending
    assert stuck.gone.is_set()  # its response stops waiting for a send that cannot finish
    assert feed.dropped == 1
    assert reader in feed.clients and not reader.dropped
    feed.context.streams.close_all()
    await clock.advance(1.0)


async def test_a_reconnect_with_the_last_id_gets_nothing_again_any_other_gets_all(
    store: SQLiteStore,
) -> None:
    clock = FakeClock(T0)
    feed, live = make_feed(store, clock)
    first = feed.subscribe(None)
    live.on_reading(good(CAB, clock.now(), -80.0))
    await clock.advance(1.0)
    seen = events(first)[-1][0]
    assert seen == feed.last_id
    again = feed.subscribe(seen)
    assert list(again.pending) == [b"retry: 3000\n\n"]
    older = feed.subscribe(f"{feed.run_id}-0")
    other_run = feed.subscribe("feedbeef-7")
    for client in (older, other_run):
        ((_, tiles),) = events(client)
        assert set(tiles) == {"freezer-1", "freezer-2", "dewar-1"}
        assert "-80.0" in tiles["freezer-1"]
    feed.context.streams.close_all()
    await clock.advance(1.0)


async def test_a_unit_gone_stale_while_nobody_watched_reaches_the_reconnecting_page(
    store: SQLiteStore,
) -> None:
    """A wall screen loses its stream; meanwhile a unit's readings stop. Reconnecting with its
    last event id, it gets every tile as it is now: the unit STALE, never the old Normal."""
    clock = FakeClock(T0)
    feed, live = make_feed(store, clock)
    screen = feed.subscribe(None)
    live.on_reading(good(CAB, clock.now(), -80.0))
    await clock.advance(1.0)
    seen = events(screen)[-1][0]
    feed.leave(screen)  # the Wi-Fi blinks
    await clock.advance(120.0)  # no reading: freezer-1 goes stale
    back = feed.subscribe(seen)
    ((_, tiles),) = events(back)
    assert "STALE" in tiles["freezer-1"]
    feed.context.streams.close_all()
    await clock.advance(1.0)


async def test_an_alive_event_every_ten_seconds_while_nothing_changes(store: SQLiteStore) -> None:
    clock = FakeClock(T0)
    feed, _ = make_feed(store, clock)
    client = feed.subscribe(None)
    events(client)
    await clock.advance(25.0)
    kinds = [m.decode().split("\n")[0] for m in client.pending]
    assert kinds == ["event: alive", "event: alive"]
    feed.context.streams.close_all()
    await clock.advance(1.0)
