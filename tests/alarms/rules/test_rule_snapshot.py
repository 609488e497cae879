"""The built-in templates and the rules compiled from the example stay what they were.

Fingerprints taken before the rules were split into a package: any change to a template's
roles, rules, values or which fields a rule sets, and any change to the compiled rules (keys,
order, fields), inhibit rules or issues (paths, messages) makes these fail. The rule sets'
fingerprints were renewed twice: when rules gained ``clean_gap_threshold`` (300 s on
``coldwatch/monitoring_gap``, None elsewhere), and when a device's comm-loss rule gained the
names of the equipment it feeds (``equipment_name``): without those they hash as before. System
alarms added later (``coldwatch/account_locked``) are left out of the fingerprint and checked
on their own, so the rules that were there still hash as before.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from alarms.config import AlarmsConfig, TemplateSpec
from alarms.rules import RuleSet, compile_rules
from alarms.rules.templates import BUILTIN
from monitor.app.config import load
from monitor.core.model import EquipmentKind

ROOT = Path(__file__).resolve().parents[3]

TEMPLATE_FINGERPRINTS = {
    "ult_freezer": "684a8de3019f294095ecfb445ccaca7e44b29722a09e19bb5ce0474871664a35",
    "ln2_dewar": "9b7418111d9e9ba3a9e524103748e9fde2b70289ac75ddc7ce9eeee7122e795c",
    "co2_incubator": "415e7cdb3620d95bd348e6135891798720b88ca7d94ddbbdc07080c93517c495",
    "controlled_rate_freezer": "c409522c0d5bc1953aa1b85f722565bf66999ca530b4e2e8439cdabe73e6bf7f",
    "other": "e554a1f417c55a50c29167ebea16b19603719ce9f43cfca141e7e0467267dccd",
}


def template_fingerprint(template: TemplateSpec) -> str:
    document = {
        "roles": {role: spec.model_dump(mode="json") for role, spec in template.roles.items()},
        "rules": {
            rule_id: [sorted(rule.model_fields_set), rule.model_dump(mode="json")]
            for rule_id, rule in template.rules.items()
        },
    }
    return hashlib.sha256(json.dumps(document).encode()).hexdigest()


ADDED_LATER = ("coldwatch/account_locked", "coldwatch/config_unattributed")


def ruleset_fingerprint(ruleset: RuleSet) -> str:
    rules = tuple(rule for rule in ruleset.rules if rule.key not in ADDED_LATER)
    return hashlib.sha256(repr((rules, ruleset.inhibits, ruleset.issues)).encode()).hexdigest()


def test_every_equipment_kind_has_its_template_in_order() -> None:
    assert list(BUILTIN) == [kind.value for kind in EquipmentKind]


def test_the_builtin_templates_are_unchanged() -> None:
    fingerprints = {name: template_fingerprint(template) for name, template in BUILTIN.items()}
    assert fingerprints == TEMPLATE_FINGERPRINTS


def test_a_few_template_rules_read_as_before() -> None:
    warm = BUILTIN["ult_freezer"].rules["warm"]
    assert warm.model_dump(mode="json", exclude_none=True) == {
        "condition": "limit",
        "role": "temperature",
        "name": "cabinet warm",
        "priority": "high",
        "on_delay": 300.0,
        "off_delay": 60.0,
        "contingency": "Keep the door shut. If the temperature keeps rising, move the product "
        "to the backup freezer and document the transfer.",
        "unit": "C",
        "high": -65.0,
        "high_high": {"at": -60.0, "priority": "critical"},
        "deadband": 1.0,
    }
    assert warm.model_fields_set == {
        "condition",
        "role",
        "unit",
        "high",
        "high_high",
        "deadband",
        "on_delay",
        "off_delay",
        "priority",
        "name",
        "contingency",
    }
    co2 = BUILTIN["co2_incubator"].rules["co2"]
    assert (co2.unit, co2.low, co2.high, co2.on_delay) == ("%", 4.0, 6.0, 900.0)
    no_data = BUILTIN["controlled_rate_freezer"].rules["no_data"]
    assert (no_data.condition, no_data.role, no_data.after) == ("stale", "chamber", 120.0)
    level_fault = BUILTIN["ln2_dewar"].rules["level_fault"]
    assert (level_fault.condition, level_fault.role, level_fault.name) == (
        "quality",
        "level",
        "level sensor fault",
    )
    assert level_fault.on_delay == 60.0
    assert list(BUILTIN["ln2_dewar"].rules) == [
        "warm",
        "level",
        "fill_too_long",
        "lid_open",
        "status",
        "no_data",
        "probe_fault",
        "level_no_data",
        "level_fault",
    ]
    assert BUILTIN["other"] == TemplateSpec()


def test_the_example_compiles_to_the_same_rules() -> None:
    config = load(ROOT / "config" / "alarms-example.yaml").config
    ruleset = compile_rules(config)
    assert len(ruleset.rules) == 43 and ruleset.issues == ()
    assert ruleset.by_key()["coldwatch/account_locked"].priority == "high"
    assert ruleset.by_key()["coldwatch/config_unattributed"].priority == "low"
    assert ruleset_fingerprint(ruleset) == (
        "9b7086ad2b27e68f12bd3b2ebdc92238a913c97133cdbd50dbe8b2eebb07d8d7"
    )


def test_the_example_with_builtin_templates_only_compiles_the_same() -> None:
    config = load(ROOT / "config" / "alarms-example.yaml").config
    ruleset = compile_rules(config.model_copy(update={"alarms": AlarmsConfig()}))
    assert len(ruleset.rules) == 36
    assert [message for _, message in ruleset.issues] == [
        "role 'temperature' matches 2 channels (cabinet_temp, warm_alarm_setpoint): "
        "bind it in alarms.equipment.freezer-07.bind",
        "template 'ln2_dewar' rule 'level': a limit rule needs at least one of low_low, low, "
        "high, high_high",
    ]
    assert ruleset_fingerprint(ruleset) == (
        "f440d83d7ab135c913f85df6ec396b94a9ef27a49728d1ab1e58e97811294bcd"
    )
