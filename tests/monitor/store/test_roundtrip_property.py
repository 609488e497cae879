"""Whatever append accepts comes back exactly, and its hash verifies from the stored rows."""

from __future__ import annotations

import json
import math
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from monitor.core.model import Event, Quality, Reading
from monitor.store.sqlite import SQLiteStore

_T0 = datetime(2026, 3, 1, tzinfo=UTC)

texts = st.text(alphabet=st.characters(exclude_categories=["Cs"]), max_size=12)
values = st.one_of(
    st.none(),
    st.floats(allow_nan=False),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    texts,
)


@st.composite
def readings(draw: st.DrawFn) -> Reading:
    ts = _T0 + timedelta(microseconds=draw(st.integers(-(10**15), 10**15)))
    quality = draw(st.sampled_from(list(Quality)))
    return Reading(
        draw(st.sampled_from(["a", "b", "ünï", "with\x00nul", ""])),
        ts,
        draw(values),
        quality,
        draw(st.integers(0, 2**31)),
        draw(st.none() | texts),
    )


json_values: st.SearchStrategy[Any] = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | texts,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(texts, children, max_size=3),
    max_leaves=8,
)


@st.composite
def events(draw: st.DrawFn) -> Event:
    ts = _T0 + timedelta(microseconds=draw(st.integers(-(10**12), 10**12)))
    return Event(
        ts,
        draw(texts),
        draw(texts),
        draw(texts),
        draw(st.dictionaries(texts, json_values, max_size=3)),
        draw(st.none() | texts),
    )


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    batches=st.lists(
        st.tuples(st.lists(readings(), max_size=30), st.lists(events(), max_size=3)),
        min_size=1,
        max_size=4,
    )
)
def test_round_trip_and_verify(batches: list[tuple[list[Reading], list[Event]]]) -> None:
    with tempfile.TemporaryDirectory() as tmp, SQLiteStore(Path(tmp) / "p.db") as store:
        appended = 0
        for rs, es in batches:
            if store.append(rs, es) is not None:
                appended += 1
        result = store.verify()
        assert result.ok, result.problem
        assert result.batches == appended

        sent = [r for rs, _ in batches for r in rs]
        for channel in {r.channel for r in sent}:
            got = store.readings(channel)
            assert [r.ts for r in got] == sorted(r.ts for r in sent if r.channel == channel)
            assert sorted(map(_key, got)) == sorted(_key(r) for r in sent if r.channel == channel)

        sent_events = [e for _, es in batches for e in es]
        assert sorted(map(_event_key, store.events())) == sorted(map(_event_key, sent_events))


def _key(r: Reading) -> tuple[Any, ...]:
    value = r.value
    exact = (type(value).__name__, value.hex() if isinstance(value, float) else value)
    if isinstance(value, float) and math.isinf(value):
        exact = ("float", str(value))
    return (r.ts, repr(exact), r.quality.value, r.flags, repr(r.detail))


def _event_key(e: Event) -> tuple[Any, ...]:
    data = json.dumps(e.data, sort_keys=True)
    return (e.ts, e.kind, e.source, e.message, data, repr(e.person))
