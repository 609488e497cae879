"""route-test (issue 5 item 16): who would be paged, over which channel, at which minute, for
an alarm of the example SOP, without sending anything; the worked example in
docs/escalation.md is checked against the real output."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
import yaml

from alarms.escalation.config import PagingConfig
from alarms.escalation.config_checks import check_paging
from alarms.escalation.route_preview import RouteTestError, render_route
from monitor.app.config import Config, load
from tests.support.paths import REPO

ROOT = REPO
DOC = (ROOT / "docs" / "escalation.md").read_text()
MONDAY_0740 = datetime(2026, 3, 2, 6, 40, tzinfo=UTC)


def doc_block(marker: str) -> str:
    after = DOC.split(f"<!-- {marker} -->", 1)[1]
    body = after.split("```", 2)[1]
    return body.split("\n", 1)[1]  # without the language tag line


@pytest.fixture
def config() -> Config:
    return load(ROOT / "config" / "alarms-example.yaml").config


@pytest.fixture
def paging(monkeypatch: pytest.MonkeyPatch) -> PagingConfig:
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", "not-a-real-token")
    return PagingConfig.of(yaml.safe_load(doc_block("paging-example")))


def test_the_documented_example_is_valid_and_its_output_current(
    config: Config, paging: PagingConfig
) -> None:
    assert check_paging(paging, config) == []
    out = render_route(config, paging, "freezer-07.cabinet_temp", "high_high", MONDAY_0740)
    assert out == doc_block("route-test-example").rstrip("\n")


def test_the_route_test_output_for_the_example_sop(config: Config, paging: PagingConfig) -> None:
    out = render_route(config, paging, "freezer-07.cabinet_temp", "high_high", MONDAY_0740)
    lines = out.splitlines()
    assert "nothing is sent" in lines[0]
    assert "SOP-CC-012: keep the door shut" in out
    assert "policy 'cold-chain-critical'" in out
    minutes = [int(line.split()[0]) for line in lines if line[:6].strip().isdigit()]
    assert minutes == [0, 15, 30, 45, 60, 75, 90, 105, 120]
    tier1 = [line for line in lines if "schedule:cold-chain-techs" in line]
    assert "Bob Okafor" in tier1[0] and "07:40" in tier1[0]
    assert "Carol Jung" in tier1[1] and "08:25" in tier1[1]  # after Monday's 08:00 hand-off
    assert "sms > phone" in tier1[0]
    sms = lines[-1].strip()
    assert sms.startswith("A0000 CRITICAL ALARM:") and "SOP: SOP-CC-012" in sms


def test_nothing_is_built_or_sent(
    config: Config, paging: PagingConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("route-test must not build notifiers")

    monkeypatch.setattr("alarms.notify.registry.build_all", refuse)
    monkeypatch.setattr("alarms.notify.registry.build", refuse)
    assert "Bob Okafor" in render_route(config, paging, "cabinet_temp", "high_high", MONDAY_0740)


def test_every_matching_alarm_is_shown(config: Config, paging: PagingConfig) -> None:
    out = render_route(config, paging, "freezer-07.cabinet_temp", "high", MONDAY_0740)
    assert "2 alarms match" in out
    assert "warm_warning" in out and "priority low" in out and "default policy 'standard'" in out
    assert "freezer-07.cabinet_temp/warm (cabinet warm): high at -68 C, priority high" in out


def test_conditions_by_rule_kind_and_device(config: Config, paging: PagingConfig) -> None:
    door = render_route(config, paging, "freezer-07.door_open", "door_open", MONDAY_0740)
    assert "routes[0] {rule: [door_open, lid_open]} -> policy 'standard'" in door
    assert "once the condition lasts 3 min" in door  # the site template's door delay
    stale = render_route(config, paging, "freezer-07.cabinet_temp", "stale", MONDAY_0740)
    assert "freezer-07.cabinet_temp/no_data" in stale
    comm = render_route(config, paging, "freezer-07.cabinet_temp", "comm-loss", MONDAY_0740)
    assert "tsx-07/comm_loss" in comm
    device = render_route(config, paging, "ups-01", "comm loss", MONDAY_0740)
    assert "ups-01/comm_loss" in device and "priority critical" in device
    by_key = render_route(config, paging, "freezer-07.cabinet_temp/warm", None, MONDAY_0740)
    assert "2 alarms match" in by_key and "high-high at -60 C" in by_key


def test_overrides_and_local_times(config: Config, paging: PagingConfig) -> None:
    naive = datetime(2026, 3, 10, 9, 0)  # site time: Europe/Berlin
    out = render_route(config, paging, "freezer-07.cabinet_temp", "high_high", naive)
    assert "Raised at  Tue 2026-03-10 09:00 CET (08:00 UTC)" in out
    assert "Carol Jung (carol)" in out.splitlines()[out.splitlines().index(_table(out)) + 1]


def _table(out: str) -> str:
    return next(line for line in out.splitlines() if line.lstrip().startswith("minute"))


def test_a_tier_with_nobody_on_call_is_shown(config: Config, paging: PagingConfig) -> None:
    data = paging.model_dump()
    data["schedules"]["cold-chain-techs"]["overrides"] = []
    data["schedules"]["cold-chain-techs"]["layers"][0]["restrict"] = {"days": ["sat"]}
    tiers = data["escalation"]["policies"]["cold-chain-critical"]["tiers"]
    tiers[0]["notify"] = ["schedule:cold-chain-techs"]
    empty = PagingConfig.model_validate(data)
    out = render_route(config, empty, "freezer-07.cabinet_temp", "high_high", MONDAY_0740)
    assert "NOBODY on call: the next tier is paged at once" in out


@pytest.mark.parametrize(
    ("target", "condition", "message"),
    [
        ("freezer-07.cabinet_temp", "low", "with condition 'low' (high (warm_warning), high"),
        ("freezer-07.cabinet_temp", "low", "comm_loss (tsx-07)"),
        ("freezer-99.cabinet_temp", "high", "no channel 'freezer-99.cabinet_temp'"),
        ("freezer-07.cabinet_temp/cold", None, "no alarm 'freezer-07.cabinet_temp/cold'"),
    ],
)
def test_what_does_not_match_says_what_does(
    config: Config, paging: PagingConfig, target: str, condition: str | None, message: str
) -> None:
    with pytest.raises(RouteTestError, match=message.replace("(", r"\(").replace(")", r"\)")):
        render_route(config, paging, target, condition, MONDAY_0740)
