"""The equipment page and its chart data (monitor/app/web/equipment.py), over real HTTP from a
real SQLite store: anonymous callers refused, gaps and bad samples come out as gaps at raw
and roll-up resolutions, limits follow a configuration change at its time, alarm periods,
and bad input answered with a 4xx saying why."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from monitor.identity.roles import Role
from tests.support.equipment_data import (
    CHANNEL,
    UNIT,
    WARM,
    alarm_period,
    readings,
    record_version,
)
from tests.support.identity_web import add_user, signed_in
from tests.support.web import UPLOT_PATH, UPLOT_SHA256, ThreadedConsole

#: a day ago, on the hour: the page lists the alarms of the last 30 days of the real clock
T0 = (datetime.now(UTC) - timedelta(days=1)).replace(minute=0, second=0, microsecond=0)
HOLE = (T0 + timedelta(minutes=20), T0 + timedelta(minutes=30))
BAD = T0 + timedelta(minutes=45)
CHANGE = T0 + timedelta(minutes=40)
API = f"/api/equipment/{UNIT}/chart"


@pytest.fixture(scope="module")
def console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ThreadedConsole]:
    with ThreadedConsole(tmp_path_factory.mktemp("equipment")) as served:
        store = served.store
        record_version(store, T0 - timedelta(days=1), high=-68.0)
        record_version(store, CHANGE, high=-65.0)
        store.append(readings(T0 - timedelta(hours=2), T0 + timedelta(hours=2),
                              holes=(HOLE,), bad_at=(BAD,)))  # fmt: skip
        alarm_period(store, T0 + timedelta(minutes=5), T0 + timedelta(minutes=15))
        add_user(served.identity.records, "vera", Role.VIEWER)
        yield served


@pytest.fixture
def viewer(console: ThreadedConsole) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=console.url, timeout=10) as client:
        signed_in(client, "vera")
        yield client


def window(client: httpx.Client, start: datetime, end: datetime) -> dict[str, Any]:
    span = int((end - start).total_seconds())
    answer = client.get(API, params={"span": span, "end": end.isoformat()})
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


def points(body: dict[str, Any]) -> list[tuple[float, float | None]]:
    (channel,) = [c for c in body["channels"] if c["id"] == CHANNEL]
    return list(zip(channel["points"]["t"], channel["points"]["v"], strict=True))


def test_anonymous_callers_are_refused(console: ThreadedConsole) -> None:
    with httpx.Client(base_url=console.url, timeout=10) as anonymous:
        answer = anonymous.get(API, params={"range": "24h"})
        assert answer.status_code == 401
        assert "error" in answer.json()
        page = anonymous.get(f"/equipment/{UNIT}")
        assert page.status_code in (303, 401)


def test_a_gap_and_a_bad_sample_are_gaps_in_raw_data(viewer: httpx.Client) -> None:
    body = window(viewer, T0, T0 + timedelta(hours=1))
    assert body["resolution"] == "raw"
    pts = points(body)
    hole = [(t, v) for t, v in pts if HOLE[0].timestamp() - 10 < t < HOLE[1].timestamp()]
    assert hole and all(v is None for _, v in hole)  # one null between the hole's sides
    assert dict(pts)[BAD.timestamp()] is None
    assert all(v == -80.0 for t, v in pts if t < HOLE[0].timestamp() - 10)
    assert len([v for _, v in pts if v is None]) == 2


def test_the_gap_stays_a_gap_in_the_rollup(viewer: httpx.Client) -> None:
    body = window(viewer, T0 - timedelta(hours=12), T0 + timedelta(hours=12))
    assert body["resolution"] == "1 min" and body["bucket_seconds"] == 60
    pts = points(body)
    inside = [v for t, v in pts if HOLE[0].timestamp() < t < HOLE[1].timestamp()]
    assert inside and all(v is None for v in inside)
    (channel,) = [c for c in body["channels"] if c["id"] == CHANNEL]
    assert channel["points"]["min"][0] == channel["points"]["max"][0] == -80.0
    assert channel["points"]["bad"] == 1  # one failed sample, outvoted in its minute


def test_limits_follow_a_configuration_change_at_its_time(viewer: httpx.Client) -> None:
    body = window(viewer, T0, T0 + timedelta(hours=1))
    (high,) = [x for x in body["limits"] if x["rule"] == WARM and x["level"] == "high"]
    assert high["steps"] == [
        [T0.timestamp(), -68.0],
        [CHANGE.timestamp(), -65.0],
        [(T0 + timedelta(hours=1)).timestamp(), -65.0],
    ]
    (high_high,) = [x for x in body["limits"] if x["rule"] == WARM and x["level"] == "high_high"]
    assert [v for _, v in high_high["steps"]] == [-60.0, -60.0]  # unchanged: no step
    assert [v["id"] for v in body["config_versions"]] == [1, 2]
    before = window(viewer, T0 - timedelta(hours=1), T0)
    (early,) = [x for x in before["limits"] if x["rule"] == WARM and x["level"] == "high"]
    assert [v for _, v in early["steps"]] == [-68.0, -68.0]


def test_alarm_periods_come_with_the_chart(viewer: httpx.Client) -> None:
    body = window(viewer, T0, T0 + timedelta(hours=1))
    (period,) = body["alarms"]
    assert period["code"] == "A1001" and period["priority"] == "high"
    assert period["from"] == (T0 + timedelta(minutes=5)).timestamp()
    assert period["to"] == (T0 + timedelta(minutes=15)).timestamp()
    assert window(viewer, T0 + timedelta(minutes=20), T0 + timedelta(hours=1))["alarms"] == []


@pytest.mark.parametrize(
    ("params", "words"),
    [
        ({"range": "2y"}, "range"),
        ({"span": "10"}, "span"),
        ({"span": str(401 * 86400)}, "span"),
        ({"end": "yesterday"}, "end"),
        ({"end": "0001-01-01T00:00:00", "range": "30d"}, "before the year 1"),
    ],
)
def test_bad_input_is_a_422_that_says_why(
    viewer: httpx.Client, params: dict[str, str], words: str
) -> None:
    answer = viewer.get(API, params=params)
    assert answer.status_code == 422, answer.text
    assert words in answer.json()["error"]


def test_span_wins_over_range_and_end_moves_the_window(viewer: httpx.Client) -> None:
    end = T0 + timedelta(hours=1)
    body = viewer.get(API, params={"range": "30d", "span": 600, "end": end.isoformat()}).json()
    assert (body["from"], body["to"]) == (
        (end - timedelta(minutes=10)).isoformat(),
        end.isoformat(),
    )
    naive = viewer.get(API, params={"span": 600, "end": end.replace(tzinfo=None).isoformat()})
    assert naive.json()["to"] == end.isoformat()  # a time without a zone is UTC


def test_an_unknown_unit_is_a_404(viewer: httpx.Client) -> None:
    answer = viewer.get("/api/equipment/freezer-99/chart", params={"range": "1h"})
    assert answer.status_code == 404 and "freezer-99" in answer.json()["error"]
    assert viewer.get("/equipment/freezer-99").status_code == 404


def test_the_page_opens_on_the_range_asked_for(viewer: httpx.Client) -> None:
    page = viewer.get(f"/equipment/{UNIT}", params={"range": "1h"})
    assert page.status_code == 200 and 'data-range="1h"' in page.text
    assert 'data-range="1h" aria-pressed="true"' in page.text
    wrong = viewer.get(f"/equipment/{UNIT}", params={"range": "1y"})
    assert wrong.status_code == 422 and "range" in wrong.text


def test_the_page_shows_sensor_version_alarms_and_sops(viewer: httpx.Client) -> None:
    page = viewer.get(f"/equipment/{UNIT}")
    assert page.status_code == 200, page.text
    text = page.text
    assert "TSX-0042" in text and "2026-09-30" in text  # sensor serial, calibration due
    assert "Version</dt><dd>2 " in text  # the version in force
    assert "SOP-CC-012" in text  # the warm rule's contingency
    assert f'src="{UPLOT_PATH}"' in text and "/static/js/equipment_chart.js" in text
    assert "<script>" not in text  # no inline script: the CSP forbids them
    assert "ConfigVersion(" not in text  # the footer's coldwatch version is not shadowed
    assert text.count('href="/alarms/A1001"') == 1  # the recent alarm, acknowledged by dana
    assert "acknowledged by dana" in text and "door closed" in text


def test_uplot_is_served_as_vendored_with_its_licence(console: ThreadedConsole) -> None:
    with httpx.Client(base_url=console.url, timeout=10) as anyone:
        script = anyone.get(UPLOT_PATH)
        assert script.status_code == 200
        assert hashlib.sha256(script.content).hexdigest() == UPLOT_SHA256
        licence = anyone.get("/static/vendor/uplot/LICENSE")
        assert licence.status_code == 200 and "MIT License" in licence.text
