"""The checks of coldwatch itself (``coldwatch/<check>``) and the defaults of a device's
comm-loss alarm: which health events raise and clear each, its priority, text and contingency.
Each one can be changed under ``alarms.system.<name>`` (``alarms.comm_loss`` for comm loss).
"""

from __future__ import annotations

from typing import Final

from monitor.core.model import EventKind

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
        clean_gap_threshold: float | None = None,
    ) -> None:
        self.set_kinds = set_kinds
        self.clear_kinds = clear_kinds
        self.priority = priority
        self.text = text
        self.contingency = contingency
        self.on_delay = on_delay
        self.clean_gap_threshold = clean_gap_threshold

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
        # a planned restart (a configuration change) is recorded, not paged
        clean_gap_threshold=300.0,
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
    "account_locked": SystemAlarm(
        (EventKind.ACCOUNT_LOCKED,),
        (),
        "high",  # attempted unauthorised use is reported at once (21 CFR 11.300(d))
        "account locked after failed sign-ins",
        "Someone typed a wrong password for this user id several times in a row: ask its user "
        "whether it was them; if not, treat it as an attempt to break in and tell IT security.",
    ),
    # Low, not high: the new configuration is in force and monitored, and every change it made
    # is in the audit trail's diff; what is missing is a name and a reason, a records finding
    # for working hours, not a threat to product tonight. It pages once and waits, as a pulse,
    # for someone to acknowledge it with a comment that says who changed what and why.
    "config_unattributed": SystemAlarm(
        (EventKind.CONFIG_UNATTRIBUTED,),
        (),
        "low",
        "configuration changed without a recorded reason",
        "Find out who changed the configuration and why (the audit trail lists every change: "
        "coldwatch audit --action config.loaded), review the change, and acknowledge this "
        "alarm with a comment that says so. Change it with coldwatch reload --reason or "
        "coldwatch restart --reason next time.",
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
