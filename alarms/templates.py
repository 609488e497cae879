"""Built-in rule templates per equipment kind: common SOP defaults, each one overridable.

The numbers are the common practice of the reference (docs/alarms.md has the table): a -80 C
freezer warns at -70 C and alarms at -65/-60 C, LN2 vapour phase alarms at -170 C and is
critical at -150 C, a CO2 incubator alarms at 37 +/- 1 C and 5 +/- 1 % CO2 after 15 minutes.
Limits carry the unit they are in (``unit``): a rule in C is never applied to a channel in
another unit, and a template rule without limits (LN2 level: mm, in or %) must be completed
by each unit.
"""

from __future__ import annotations

from typing import Any, Final

from alarms.config import TemplateSpec
from monitor.core.model import EquipmentKind, EventKind

_STALE: Final = {
    "condition": "stale",
    "after": "10m",
    "priority": "high",
    "name": "no data",
    "contingency": "Check the probe, its cable and the gateway; read the unit's own display "
    "and record the temperature by hand until data flows again.",
}
_PROBE: Final = {
    "condition": "quality",
    "on_delay": "1m",
    "priority": "high",
    "name": "probe fault",
    "contingency": "The probe reports a fault or an impossible value: check the probe and "
    "read the unit's own display; call service if it persists.",
}

_ULT: Final[dict[str, Any]] = {
    "roles": {
        "temperature": {"quantity": "temperature", "required": True},
        "door": {"quantity": "door_open"},
        "power_failure": {"quantity": "power_failure"},
        "power_ok": {"quantity": "power_ok"},
        "status": {"quantity": "status_code"},
    },
    "rules": {
        "warm_warning": {
            "condition": "limit",
            "role": "temperature",
            "unit": "C",
            "high": -70.0,
            "deadband": 1.0,
            "on_delay": "10m",
            "off_delay": "1m",
            "priority": "low",
            "name": "warmer than -70 C",
            "contingency": "Check that the door is closed and the unit is not overloaded.",
        },
        "warm": {
            "condition": "limit",
            "role": "temperature",
            "unit": "C",
            "high": -65.0,
            "high_high": {"at": -60.0, "priority": "critical"},
            "deadband": 1.0,
            "on_delay": "5m",
            "off_delay": "1m",
            "priority": "high",
            "name": "cabinet warm",
            "contingency": "Keep the door shut. If the temperature keeps rising, move the "
            "product to the backup freezer and document the transfer.",
        },
        "warming_fast": {
            "condition": "rate",
            "role": "temperature",
            "unit": "C",
            "rise": 0.5,
            "window": "10m",
            "min_points": 10,
            "priority": "high",
            "name": "warming fast",
            "contingency": "The cabinet is warming faster than 0.5 C/min: check door, power "
            "and compressor now.",
        },
        "door_open": {
            "condition": "discrete",
            "role": "door",
            "alarm_when": True,
            "on_delay": "5m",
            "priority": "high",
            "name": "door open",
            "contingency": "Close the door; check the gasket and that nothing blocks it.",
        },
        "power_failure": {
            "condition": "discrete",
            "role": "power_failure",
            "alarm_when": True,
            "priority": "critical",
            "name": "power failure",
            "contingency": "Check the mains supply and the UPS; keep the door shut.",
        },
        "power_lost": {
            "condition": "discrete",
            "role": "power_ok",
            "alarm_when": False,
            "priority": "critical",
            "name": "power failure",
            "contingency": "Check the mains supply and the UPS; keep the door shut.",
        },
        "status": {
            "condition": "status",
            "role": "status",
            "ok_values": [0],
            "on_delay": "1m",
            "priority": "high",
            "name": "unit fault",
            "contingency": "Read the fault on the unit's display and call service.",
        },
        "no_data": {**_STALE, "role": "temperature"},
        "probe_fault": {**_PROBE, "role": "temperature"},
    },
}

_LN2: Final[dict[str, Any]] = {
    "roles": {
        "temperature": {"quantity": "temperature"},
        "level": {"quantity": "ln2_level"},
        "fill_valve": {"quantity": "fill_valve_open"},
        "lid": {"quantity": "lid_open"},
        "status": {"quantity": "status_code"},
    },
    "rules": {
        "warm": {
            "condition": "limit",
            "role": "temperature",
            "unit": "C",
            "high": -170.0,
            "high_high": {"at": -150.0, "priority": "critical"},
            "deadband": 2.0,
            "on_delay": "2m",
            "off_delay": "1m",
            "priority": "high",
            "name": "vapour phase warm",
            "contingency": "Check the LN2 supply and the lid; fill manually if the level is "
            "low. At -150 C move the product to the backup dewar.",
        },
        "level": {
            "condition": "limit",
            "role": "level",
            "on_delay": "2m",
            "priority": "high",
            "name": "LN2 level",
            "contingency": "Check the supply tank and the fill; fill manually if needed.",
        },
        "fill_too_long": {
            "condition": "discrete",
            "role": "fill_valve",
            "alarm_when": True,
            "on_delay": "30m",
            "priority": "high",
            "name": "fill running too long",
            "contingency": "A fill that does not end means the supply has failed: check the "
            "supply tank and its valve, then the level sensor.",
        },
        "lid_open": {
            "condition": "discrete",
            "role": "lid",
            "alarm_when": True,
            "on_delay": "5m",
            "priority": "high",
            "name": "lid open",
            "contingency": "Close the lid (the fill valves have no power while it is open).",
        },
        "status": {
            "condition": "status",
            "role": "status",
            "ok_values": [0],
            "on_delay": "1m",
            "priority": "high",
            "name": "controller fault",
            "contingency": "Read the fault on the controller and call service.",
        },
        "no_data": {**_STALE, "role": "temperature"},
        "probe_fault": {**_PROBE, "role": "temperature"},
        "level_no_data": {**_STALE, "role": "level", "name": "no level data"},
        "level_fault": {**_PROBE, "role": "level", "name": "level sensor fault"},
    },
}

_CO2: Final[dict[str, Any]] = {
    "roles": {
        "temperature": {"quantity": "temperature", "required": True},
        "co2": {"quantity": "co2"},
        "door": {"quantity": "door_open"},
        "status": {"quantity": "status_code"},
    },
    "rules": {
        "temperature": {
            "condition": "limit",
            "role": "temperature",
            "unit": "C",
            "low_low": {"at": 35.0, "priority": "critical"},
            "low": 36.0,
            "high": 38.0,
            "high_high": {"at": 39.0, "priority": "critical"},
            "deadband": 0.2,
            "on_delay": "15m",
            "off_delay": "1m",
            "priority": "high",
            "name": "temperature",
            "contingency": "Check the door and the set point; move the cultures to a backup "
            "incubator if it does not recover.",
        },
        "co2": {
            "condition": "limit",
            "role": "co2",
            "unit": "%",
            "low": 4.0,
            "high": 6.0,
            "deadband": 0.2,
            "on_delay": "15m",
            "off_delay": "1m",
            "priority": "high",
            "name": "CO2",
            "contingency": "Check the CO2 cylinder and its regulator, and the door gasket.",
        },
        "door_open": {
            "condition": "discrete",
            "role": "door",
            "alarm_when": True,
            "on_delay": "5m",
            "priority": "low",
            "name": "door open",
            "contingency": "Close the door.",
        },
        "status": {
            "condition": "status",
            "role": "status",
            "ok_values": [0],
            "on_delay": "1m",
            "priority": "high",
            "name": "unit fault",
            "contingency": "Read the fault on the unit's display and call service.",
        },
        "no_data": {**_STALE, "role": "temperature"},
        "probe_fault": {**_PROBE, "role": "temperature"},
        "co2_no_data": {**_STALE, "role": "co2", "name": "no CO2 data"},
        "co2_fault": {**_PROBE, "role": "co2", "name": "CO2 probe fault"},
    },
}

_CRF: Final[dict[str, Any]] = {
    "roles": {
        "chamber": {"required": True},
        "sample": {},
        "program": {},
        "status": {"quantity": "status_code"},
    },
    "rules": {
        "chamber_deviation": {
            "condition": "deviation",
            "role": "chamber",
            "reference": "program",
            "unit": "C",
            "tolerance": 5.0,
            "on_delay": "1m",
            "priority": "high",
            "name": "chamber off profile",
            "contingency": "The chamber does not follow the program: check the LN2 supply to "
            "the freezer; record the deviation in the batch record.",
        },
        "sample_deviation": {
            "condition": "deviation",
            "role": "sample",
            "reference": "program",
            "unit": "C",
            "tolerance": 8.0,
            "on_delay": "2m",
            "priority": "high",
            "name": "sample off profile",
            "contingency": "The sample does not follow the program: record the deviation in "
            "the batch record and inform QA.",
        },
        "status": {
            "condition": "status",
            "role": "status",
            "ok_values": [0],
            "priority": "high",
            "name": "controller fault",
            "contingency": "Read the fault on the controller; record it in the batch record.",
        },
        "no_data": {**_STALE, "role": "chamber", "after": "2m"},
        "probe_fault": {**_PROBE, "role": "chamber"},
    },
}

BUILTIN: Final[dict[str, TemplateSpec]] = {
    EquipmentKind.ULT_FREEZER.value: TemplateSpec.model_validate(_ULT),
    EquipmentKind.LN2_DEWAR.value: TemplateSpec.model_validate(_LN2),
    EquipmentKind.CO2_INCUBATOR.value: TemplateSpec.model_validate(_CO2),
    EquipmentKind.CONTROLLED_RATE_FREEZER.value: TemplateSpec.model_validate(_CRF),
    EquipmentKind.OTHER.value: TemplateSpec(),
}

COMM_LOSS_DEFAULTS: Final = {
    "priority": "high",
    "on_delay": 0.0,
    "latching": False,
    "contingency": "The device does not answer: check its power, network cable and gateway; "
    "read the equipment's own display until communication is back.",
}


class SystemAlarm:
    """A check of coldwatch itself, raised by the health events of ``monitor.runtime.health``."""

    def __init__(
        self,
        set_kinds: tuple[str, ...],
        clear_kinds: tuple[str, ...],
        priority: str,
        text: str,
        contingency: str,
        on_delay: float = 0.0,
    ) -> None:
        self.set_kinds = set_kinds
        self.clear_kinds = clear_kinds
        self.priority = priority
        self.text = text
        self.contingency = contingency
        self.on_delay = on_delay

    @property
    def pulse(self) -> bool:
        """An event without a matching "ok" event: raised and returned at once, so it waits
        in RTN_UNACK for a person to acknowledge that it happened."""
        return not self.clear_kinds


SYSTEM_ALARMS: Final[dict[str, SystemAlarm]] = {
    "disk_low": SystemAlarm(
        (EventKind.DISK_LOW,),
        (EventKind.DISK_OK,),
        "high",
        "disk nearly full",
        "Free disk space where the records are kept before readings can no longer be stored.",
    ),
    "store_write_failed": SystemAlarm(
        (EventKind.STORE_WRITE_FAILED,),
        (EventKind.STORE_WRITE_RECOVERED,),
        "critical",
        "store writes failing",
        "Readings are held in memory only: check the disk and the store file now.",
    ),
    "clock_unsynchronised": SystemAlarm(
        (EventKind.CLOCK_UNSYNCHRONISED,),
        (EventKind.CLOCK_SYNCHRONISED,),
        "low",
        "clock not synchronised",
        "Check NTP on the monitoring server: reading timestamps may drift.",
    ),
    "clock_step": SystemAlarm(
        (EventKind.CLOCK_STEP,),
        (),
        "low",
        "clock stepped",
        "Review the readings around the step: their times may be misplaced.",
    ),
    "monitoring_gap": SystemAlarm(
        (EventKind.UNCLEAN_RESTART, EventKind.DOWNTIME),
        (),
        "high",
        "monitoring interrupted",
        "coldwatch was not running: review the equipment's own logs for the gap and document it.",
    ),
    "notifiers_all_failing": SystemAlarm(
        (EventKind.NOTIFIERS_ALL_FAILING,),
        (EventKind.NOTIFIERS_RECOVERED,),
        "critical",
        "no remote notifier works",
        "Nobody can be paged off site: the local horns sound. Call the on-call technician by "
        "phone, check the monitoring server's network and the SMS and mail providers, and "
        "watch the equipment in person until paging works again.",
        on_delay=120.0,  # a person's next channel is usually tried within a minute
    ),
    "engine_fault": SystemAlarm(
        (),
        (),
        "high",
        "alarm evaluation failed",
        "An alarm rule could not be evaluated (a bug): watch the equipment by hand and report "
        "the log to the maintainers.",
    ),
}


#: One per configured notifier (``coldwatch/notifier_failing/<name>``, source
#: ``notifier/<name>``): the failed attempts in a row are counted by ``alarms.notify.watch``.
NOTIFIER_FAILING: Final = SystemAlarm(
    (EventKind.NOTIFIER_FAILING,),
    (EventKind.NOTIFIER_RECOVERED,),
    "high",
    "failing",
    "Pages through this channel do not get out: check its provider account, credentials and "
    "the network; people are paged on their next channel meanwhile.",
)

#: One per channel whose sensor has a ``calibration_due`` date (``<channel>/calibration_due``),
#: raised by the first good reading flagged past that date.
CALIBRATION_DUE: Final = {
    "priority": "low",
    "contingency": "The sensor is past its calibration due date: have it calibrated or "
    "replaced per the calibration SOP, then update sensor.calibration_due in the "
    "configuration. Its readings are flagged in the record until then.",
}

#: Names under ``alarms.system`` that configure one alarm per notifier or per channel.
PER_ITEM_SYSTEM_ALARMS: Final = ("notifier_failing", "calibration_due")
