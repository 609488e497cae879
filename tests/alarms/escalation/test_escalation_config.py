"""The ``schedules:`` and ``escalation:`` sections: strict models, and cross-checks that name
the key to change for every dangling reference."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from alarms.escalation.config import (
    EscalationConfig,
    PagingConfig,
    never_bundled_channels,
    update_skip_channels,
)
from alarms.escalation.config_checks import check_paging
from alarms.escalation.policy import Policy, Router
from alarms.model import ConditionKind, Level, Priority
from monitor.app.config import load
from tests.support.escalation import paging_data, view
from tests.support.paths import REPO

ROOT = REPO


def issues(data: dict[str, Any], config: Any = None) -> list[str]:
    return [
        ".".join(str(p) for p in path) + ": " + message
        for path, message in check_paging(PagingConfig.of(data), config)
    ]


def test_a_good_configuration_has_no_issues() -> None:
    assert issues(paging_data()) == []


def test_dangling_references_name_the_key_to_change() -> None:
    data = paging_data()
    tiers = data["escalation"]["policies"]["cold"]["tiers"]
    tiers[0]["notify"] = ["schedule:nights", "person:zoe", "group:qa", "team:x", "sam"]
    data["escalation"]["routes"] = [{"match": {"priority": "low"}, "policy": "gone"}]
    data["escalation"]["default_policy"] = "nope"
    data["schedules"]["techs"]["layers"][0]["people"].append("zed")
    data["schedules"]["techs"]["overrides"][0]["person"] = "zack"
    data["groups"][0]["members"].append("zara")
    data["people"][0] = {**data["people"][0], "channels": ["pager"]}
    got = issues(data)
    assert got == [
        "people.0.channels.0: person 'alice': unknown notifier 'pager' (notifiers: horn, "
        "phone, sms)",
        "groups.0.members.2: group 'qa': unknown person 'zara' (people: alice, bob, "
        "lab-horn, quinn, rita, sam)",
        "schedules.techs.layers.0.people.2: schedule 'techs': unknown person 'zed' (people: "
        "alice, bob, lab-horn, quinn, rita, sam)",
        "schedules.techs.overrides.0.person: schedule 'techs': unknown person 'zack' "
        "(people: alice, bob, lab-horn, quinn, rita, sam)",
        "escalation.policies.cold.tiers.0.notify.0: unknown schedule 'nights' (schedules: techs)",
        "escalation.policies.cold.tiers.0.notify.1: unknown person 'zoe' (people: alice, "
        "bob, lab-horn, quinn, rita, sam)",
        "escalation.policies.cold.tiers.0.notify.3: 'team:x' is not a target: write "
        "person:<id>, group:<id> or schedule:<id>",
        "escalation.policies.cold.tiers.0.notify.4: 'sam' is not a target: write "
        "person:<id>, group:<id> or schedule:<id>",
        "escalation.default_policy: unknown policy 'nope' (policies: cold)",
        "escalation.routes.0.policy: unknown policy 'gone' (policies: cold)",
    ]


def test_a_policy_that_stops_paging_may_not_receive_critical_alarms() -> None:
    data = paging_data()
    quiet = {"tiers": [{"notify": ["person:bob"]}], "repeat": 0, "keep_paging": False}
    data["escalation"]["policies"]["quiet"] = quiet
    data["escalation"]["routes"] = [
        {"match": {"priority": ["high", "low"]}, "policy": "quiet"},  # fine
        {"match": {"condition": "stale"}, "policy": "quiet"},  # a critical stale alarm?
    ]
    assert issues(data) == [
        "escalation.routes.1.policy: policy 'quiet' stops paging after its repeats "
        "(keep_paging: false), but this route can send it critical alarms: add 'priority: "
        "[high, low]' to the match or keep paging"
    ]
    data["escalation"]["default_policy"] = "quiet"
    assert any(i.startswith("escalation.default_policy: policy 'quiet'") for i in issues(data))


def test_routes_are_checked_against_the_equipment() -> None:
    config = load(ROOT / "config" / "alarms-example.yaml").config
    data = paging_data()
    data["escalation"]["routes"] = [
        {"match": {"equipment": ["freezer-07", "freezer-99"]}, "policy": "cold"},
        {"match": {"equipment": "dewar-*", "location": "room-9*"}, "policy": "cold"},
    ]
    assert issues(data, config) == [
        "escalation.routes.0.match.equipment.1: unknown equipment 'freezer-99' (equipment: "
        "crf-01, dewar-02, freezer-07, incubator-02, ups-room-101)",
        "escalation.routes.1.match.location.0: 'room-9*' matches no location",
    ]


def test_notifier_settings_are_checked_without_showing_values() -> None:
    data = paging_data()
    data["notifiers"]["sms"] = {"type": "twilio_sms", "account_sid": "nope", "auth_token": "s3"}
    (problem,) = issues(data)
    assert problem.startswith("notifiers.sms: notifier 'sms': ")
    assert "s3" not in problem


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"tiers": []}, "at least 1"),
        ({"tiers": [{"notify": ["person:bob"], "wait": "500ms"}]}, "greater than or equal to 1"),
        ({"repeat": -1}, "greater than or equal to 0"),
        ({"tiers": [{"notify": ["person:bob"], "delay": "5m"}]}, "Extra inputs"),
    ],
)
def test_policies_are_strict(change: dict[str, Any], message: str) -> None:
    data = paging_data()
    data["escalation"]["policies"]["cold"].update(change)
    with pytest.raises(ValidationError, match=message):
        PagingConfig.of(data)


def test_a_single_value_is_a_list_of_one() -> None:
    esc = EscalationConfig.model_validate(
        {
            "policies": {"p": {"tiers": [{"notify": "person:bob"}]}},
            "default_policy": "p",
            "routes": [
                {"match": {"priority": "critical", "equipment": "freezer-*"}, "policy": "p"}
            ],
        }
    )
    assert esc.policies["p"].tiers[0].notify == ("person:bob",)
    assert esc.routes[0].match.priority == (Priority.CRITICAL,)
    assert esc.routes[0].match.equipment == ("freezer-*",)


def test_policy_steps_repeat_then_the_last_tier_continues() -> None:
    data = paging_data()
    policy = Policy("cold", PagingConfig.of(data).escalation.policies["cold"])  # type: ignore[union-attr]
    steps = [policy.step(k) for k in range(9)]
    assert [(s.tier, s.pass_no) for s in steps if s] == [
        (0, 1), (1, 1), (2, 1), (0, 2), (1, 2), (2, 2), (2, None), (2, None), (2, None)
    ]  # fmt: skip
    assert policy.describe() == "3 tiers, run 2 times, then tier 3 every 15 min until acknowledged"
    quiet = Policy("q", policy.spec.model_copy(update={"keep_paging": False}))
    assert quiet.step(5) is not None and quiet.step(6) is None


def test_the_router_matches_kind_location_level_and_globs() -> None:
    config = load(ROOT / "config" / "alarms-example.yaml").config
    esc = EscalationConfig.model_validate(
        {
            "policies": {name: {"tiers": [{"notify": "person:bob"}]} for name in "abcde"},
            "default_policy": "e",
            "routes": [
                {"match": {"equipment_kind": "ln2_dewar", "level": "low"}, "policy": "a"},
                {"match": {"condition": "comm_loss", "location": "room-101"}, "policy": "b"},
                {"match": {"key": "freezer-07.*/warm", "priority": "critical"}, "policy": "c"},
                {"match": {"rule": "door_*"}, "policy": "d"},
            ],
        }
    )
    router = Router.from_config(esc, config)
    dewar = view(key="dewar-02.ln2_level/level", level=Level.LOW, equipment="dewar-02")
    comm = view(
        key="tsx-07/comm_loss", level=None, equipment=None, condition=ConditionKind.COMM_LOSS
    )
    warm = view()
    door = view(key="freezer-07.door_open/door_open", level=None, priority=Priority.LOW)
    other = view(priority=Priority.HIGH, level=Level.HIGH)
    got = [router.route(v) for v in (dewar, comm, warm, door, other)]
    assert [(c.policy, c.route) for c in got] == [
        ("a", 0), ("b", 1), ("c", 2), ("d", 3), ("e", None)
    ]  # fmt: skip


def test_update_and_bundle_channels_default_by_notifier_type() -> None:
    data = PagingConfig.of(paging_data())
    assert update_skip_channels(data) == {"phone"}
    assert never_bundled_channels(data) == {"horn"}
    custom = paging_data(skip_channels_for_updates=[])
    assert update_skip_channels(PagingConfig.of(custom)) == set()
