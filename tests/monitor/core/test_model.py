"""Reading's fast __init__ (monitor/core/model.py) behaves as the dataclass' own."""

from __future__ import annotations

import dataclasses
import pickle
from datetime import UTC, datetime

import pytest

from monitor.core.model import Quality, Reading

TS = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def test_positional_keyword_and_default_fields() -> None:
    r = Reading("fr.t", TS, -80.5, Quality.GOOD)
    assert (r.channel, r.ts, r.value, r.quality, r.flags, r.detail) == (
        "fr.t",
        TS,
        -80.5,
        Quality.GOOD,
        0,
        None,
    )
    k = Reading(channel="fr.t", ts=TS, value=None, quality=Quality.STALE, flags=2, detail="x")
    assert (k.value, k.quality, k.flags, k.detail) == (None, Quality.STALE, 2, "x")
    with pytest.raises(TypeError):
        Reading("fr.t", TS, 1.0)  # type: ignore[call-arg]


def test_still_frozen_comparable_replaceable_and_picklable() -> None:
    r = Reading.good("fr.t", TS, 1.5)
    with pytest.raises(dataclasses.FrozenInstanceError):
        r.value = 2.0  # type: ignore[misc]
    assert r == Reading("fr.t", TS, 1.5, Quality.GOOD, 0, "detail is not compared")
    assert hash(r) == hash(Reading("fr.t", TS, 1.5, Quality.GOOD))
    assert dataclasses.replace(r, value=2.0).value == 2.0
    assert pickle.loads(pickle.dumps(r)) == r
    bad = Reading.bad("fr.t", TS, Quality.COMM_ERROR, "no answer")
    assert (bad.value, bad.detail) == (None, "no answer")
