"""The ``alarms:`` section: templates, per-unit overrides, bindings, and what is refused."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from alarms.model import Level, Priority
from alarms.rules import compile_rules
from monitor.app.config import ConfigError, load
from tests.support.alarm_engine import ULT_CHANNELS, config_data
from tests.support.fakes import write_config
from tests.support.paths import REPO

ROOT = REPO


def rules_of(tmp_path: Path, **kwargs: Any) -> dict[str, Any]:
    config = load(write_config(tmp_path, config_data(**kwargs))).config
    return {r.key: r for r in compile_rules(config).rules}


def issues_of(tmp_path: Path, **kwargs: Any) -> list[str]:
    with pytest.raises(ConfigError) as err:
        load(write_config(tmp_path, config_data(**kwargs)))
    return [f"{i.path}: {i.message}" for i in err.value.issues]


def test_no_alarms_section_means_no_rules() -> None:
    config = load(ROOT / "config" / "example.yaml").config
    assert config.alarms is None and compile_rules(config).rules == ()


def test_the_example_applies_the_sop(tmp_path: Path) -> None:
    config = load(ROOT / "config" / "alarms-example.yaml").config
    rules = {r.key: r for r in compile_rules(config).rules}
    warm = rules["freezer-07.cabinet_temp/warm"]
    assert warm.limits == {
        Level.HIGH: (-68.0, Priority.HIGH),
        Level.HIGH_HIGH: (-60.0, Priority.CRITICAL),
    }
    assert "SOP-CC-012" in warm.contingency
    assert rules["freezer-07.door_open/door_open"].spec.on_delay == 180.0  # site template
    assert "freezer-07.warm_alarm_setpoint/warm" not in rules  # bound to the probe only
    assert rules["ups-01/comm_loss"].priority is Priority.CRITICAL
    # a comm-loss page names the unit a device feeds by its name, as a limit page does
    assert rules["tsx-07/comm_loss"].equipment_name == "TSX -80 C freezer 07 (CAR-T intermediates)"
    assert rules["ups-01/comm_loss"].equipment_name == "UPS feeding room 101"
    (inhibit,) = compile_rules(config).inhibits
    assert "tsx-07/comm_loss" in inhibit.children
    assert not any("/warm" in child for child in inhibit.children)


def test_a_unit_overrides_only_what_it_sets(tmp_path: Path) -> None:
    rules = rules_of(
        tmp_path,
        alarms={"equipment": {"fr": {"rules": {"warm": {"high": -70, "high_high": None}}}}},
    )
    warm = rules["fr.temp/warm"]
    assert warm.limits == {Level.HIGH: (-70.0, Priority.HIGH)}  # null removed high-high
    assert warm.spec.on_delay == 300.0 and warm.spec.deadband == 1.0  # from the template


def test_a_template_that_extends_another(tmp_path: Path) -> None:
    rules = rules_of(
        tmp_path,
        alarms={
            "templates": {
                "ult-cart": {"extends": "ult_freezer", "rules": {"door_open": {"enabled": False}}}
            },
            "equipment": {"fr": {"template": "ult-cart"}},
        },
    )
    assert "fr.temp/warm" in rules and "fr.door/door_open" not in rules


def test_a_role_bound_to_several_channels(tmp_path: Path) -> None:
    channels = [
        *ULT_CHANNELS,
        {"id": "tc2", "quantity": "temperature", "unit": "C", "source": {"device": "dev"}},
    ]
    rules = rules_of(
        tmp_path,
        equipment=[{"id": "fr", "kind": "ult_freezer", "channels": channels}],
        alarms={"equipment": {"fr": {"bind": {"temperature": ["temp", "tc2"]}}}},
    )
    assert {"fr.temp/warm", "fr.tc2/warm"} <= set(rules)


def test_inhibition_can_never_name_a_limit_alarm(tmp_path: Path) -> None:
    issues = issues_of(
        tmp_path,
        alarms={
            "inhibit": [{"when": ["fr.power/power_failure"], "suppress": {"conditions": ["limit"]}}]
        },
    )
    assert issues == [
        "alarms.inhibit[0].suppress.conditions[0]: 'limit' is not one of comm_loss, stale, "
        "status, quality or discrete"
    ]


def test_a_template_cycle_and_an_unknown_template(tmp_path: Path) -> None:
    issues = issues_of(
        tmp_path,
        alarms={
            "templates": {"a": {"extends": "b"}, "b": {"extends": "a"}, "c": {"extends": "zz"}},
            "equipment": {"fr": {"template": "nope"}},
        },
    )
    assert any("extend each other in a loop" in i for i in issues)
    assert any("template 'zz' does not exist" in i for i in issues)
    assert any(i.startswith("alarms.equipment.fr.template: template 'nope'") for i in issues)


def test_a_rate_rule_on_a_door_is_refused(tmp_path: Path) -> None:
    issues = issues_of(
        tmp_path,
        alarms={
            "equipment": {
                "fr": {"rules": {"r": {"condition": "rate", "channel": "door", "rise": 1}}}
            }
        },
    )
    assert issues == [
        "alarms.equipment.fr.rules.r.condition: a rate rule needs a measured value; "
        "channel 'door' is door_open"
    ]


INCUBATOR = [
    {"id": "chamber", "quantity": "temperature", "unit": "C", "source": {"device": "dev"}},
]


def incubator_rule(tmp_path: Path, temperature: dict[str, Any], **alarms: Any) -> Any:
    rules = rules_of(
        tmp_path,
        equipment=[{"id": "inc", "kind": "co2_incubator", "channels": INCUBATOR}],
        alarms={"equipment": {"inc": {"rules": {"temperature": temperature}}}, **alarms},
    )
    return rules["inc.chamber/temperature"]


def test_a_bare_number_keeps_the_template_priority_of_its_level(tmp_path: Path) -> None:
    """The incubator's high-high is critical; moving it to 39.5 must not make it high."""
    rule = incubator_rule(tmp_path, {"high_high": 39.5, "low_low": 34})
    assert rule.limits == {
        Level.LOW_LOW: (34.0, Priority.CRITICAL),
        Level.LOW: (36.0, Priority.HIGH),
        Level.HIGH: (38.0, Priority.HIGH),
        Level.HIGH_HIGH: (39.5, Priority.CRITICAL),
    }


def test_only_a_named_priority_changes_a_levels_priority(tmp_path: Path) -> None:
    kept = incubator_rule(tmp_path, {"high_high": {"at": 39.5}})
    assert kept.limits[Level.HIGH_HIGH] == (39.5, Priority.CRITICAL)
    changed = incubator_rule(tmp_path, {"high_high": {"at": 39.5, "priority": "high"}})
    assert changed.limits[Level.HIGH_HIGH] == (39.5, Priority.HIGH)
    # the rule's own priority moves the levels that take it, not those with their own
    ruled = incubator_rule(tmp_path, {"priority": "low", "high_high": 40})
    assert ruled.limits[Level.HIGH] == (38.0, Priority.LOW)
    assert ruled.limits[Level.HIGH_HIGH] == (40.0, Priority.CRITICAL)


def test_a_bare_number_in_a_site_template_keeps_the_priority_too(tmp_path: Path) -> None:
    rules = rules_of(
        tmp_path,
        equipment=[{"id": "inc", "kind": "co2_incubator", "channels": INCUBATOR}],
        alarms={
            "templates": {
                "warm-room": {
                    "extends": "co2_incubator",
                    "rules": {"temperature": {"high_high": 40}},
                }
            },
            "equipment": {
                "inc": {"template": "warm-room", "rules": {"temperature": {"high_high": 39.5}}}
            },
        },
    )
    assert rules["inc.chamber/temperature"].limits[Level.HIGH_HIGH] == (39.5, Priority.CRITICAL)


def test_a_channel_unit_that_is_not_allowed_is_reported_once(tmp_path: Path) -> None:
    channels = [{**ULT_CHANNELS[0], "unit": "degC"}, *ULT_CHANNELS[1:]]
    issues = issues_of(
        tmp_path, equipment=[{"id": "fr", "kind": "ult_freezer", "channels": channels}]
    )
    assert issues == [
        "locations[0].equipment[0].channels[0].unit: unit 'degC' is not one of C (for temperature)"
    ]


def test_a_rule_in_another_allowed_unit_names_the_fix(tmp_path: Path) -> None:
    channels = [{"id": "co2", "quantity": "co2", "unit": "ppm", "source": {"device": "dev"}}]
    issues = issues_of(
        tmp_path,
        equipment=[{"id": "inc", "kind": "co2_incubator", "channels": [*INCUBATOR, *channels]}],
    )
    assert issues == [
        "locations[0].equipment[0]: template 'co2_incubator' rule 'co2': the rule's values are "
        "in % but channel 'co2' is in ppm: set 'unit: ppm' and values in ppm"
    ]
