"""Alarm conditions: each decides only whether its condition is true (see ``base``)."""

from __future__ import annotations

from alarms.conditions.base import Condition, Verdict
from alarms.conditions.deviation import DeviationCondition
from alarms.conditions.events import EventCondition, SystemCondition
from alarms.conditions.limit import LimitCondition
from alarms.conditions.rate import RateCondition
from alarms.conditions.signals import (
    CalibrationCondition,
    DiscreteCondition,
    QualityCondition,
    StaleCondition,
    StatusCondition,
)
from alarms.model import ConditionKind
from alarms.rules.model import Rule

_CLASSES: dict[ConditionKind, type[Condition]] = {
    ConditionKind.LIMIT: LimitCondition,
    ConditionKind.RATE: RateCondition,
    ConditionKind.STALE: StaleCondition,
    ConditionKind.QUALITY: QualityCondition,
    ConditionKind.DISCRETE: DiscreteCondition,
    ConditionKind.STATUS: StatusCondition,
    ConditionKind.DEVIATION: DeviationCondition,
    ConditionKind.COMM_LOSS: EventCondition,
    ConditionKind.SYSTEM: SystemCondition,
    ConditionKind.CALIBRATION: CalibrationCondition,
}

#: Conditions whose excursions can be found again in readings that arrive out of order.
REPLAYABLE = frozenset(
    {
        ConditionKind.LIMIT,
        ConditionKind.RATE,
        ConditionKind.QUALITY,
        ConditionKind.DISCRETE,
        ConditionKind.STATUS,
        ConditionKind.DEVIATION,
    }
)


def build(rule: Rule) -> Condition:
    return _CLASSES[rule.kind](rule)


__all__ = ["REPLAYABLE", "Condition", "Verdict", "build"]
