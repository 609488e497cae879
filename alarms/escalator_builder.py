"""The one way to build the escalator from the configuration, for the daemon and the tests.

Here the escalation (:mod:`alarms.escalation`) meets what it does not decide: the notifiers
(:mod:`alarms.notify`), the notification log and the escalation record in the store's file
(their store adapters in :mod:`alarms.records`), and the notifier watch that raises the system
alarm on which the horns sound. It sits beside ``alarms.escalation`` rather than in it: the
escalation does not touch the store, and ``alarms.records`` already imports the escalation's
row type, so wiring the two from inside the escalation would make an import cycle.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from alarms.escalation.config import PagingConfig
from alarms.escalation.escalator import AnnouncementSource, Escalator
from alarms.escalation.horns import UNREACHABLE_KEY
from alarms.escalation.setup import build_setup
from alarms.escalation.state import EscalationLog
from alarms.notify.delivery import Delivery
from alarms.notify.notification_log import NotificationLog
from alarms.notify.registry import build_all
from alarms.notify.watch import ALARM_PREFIX, NotifierWatch
from alarms.records.escalation_record import SQLiteEscalationLog
from alarms.records.fail_open import FailOpenEscalationLog, FailOpenNotificationLog
from alarms.records.notification_log import SQLiteLog
from monitor.core.clock import Clock
from monitor.core.file_access import FileAccess
from monitor.store.fallback_journal import FallbackJournal

if TYPE_CHECKING:
    from alarms.site import AlarmSite


def build_escalator(
    source: AnnouncementSource,
    paging: PagingConfig,
    config: AlarmSite | None,
    clock: Clock,
    store_path: str | Path | None,
    delivery: Delivery | None = None,
    *,
    record: EscalationLog | None = None,
    notifier_watch: NotifierWatch | None = None,
    journal: FallbackJournal | None = None,
    files: FileAccess | None = None,
) -> Escalator:
    """The daemon's escalator, its record in the store's file (``None``: in memory). Without
    ``delivery`` it builds the notifiers and the notification log there too and owns them
    (``stop()`` closes them); pass the daemon's one ``Delivery`` when other parts (the
    acknowledgement paths) send through the same notifiers: a horn's state lives in its
    notifier, so there must be one of each. Without ``record`` it opens the escalation record
    in ``store_path`` and owns it (tests pass a ``MemoryEscalationLog``).

    ``notifier_watch`` (the daemon's) resumes from the engine's open system alarms (a paging
    alarm raised before a restart clears at the first delivery that works) and watches every
    delivery attempt of the ``Delivery`` built here.

    ``journal`` (the daemon's fallback journal) makes the notification log and the escalation
    record built here fail open: a store that refuses writes never stops a page. ``files``:
    how a notifier that writes a file (the outbox) creates it (the store's group and modes)."""
    if notifier_watch is not None:
        if delivery is not None:
            raise ValueError("the notifier watch observes the Delivery built here; not both")
        active = {view.key for view in source.active() if view.active}
        notifier_watch.resume(
            [key.removeprefix(ALARM_PREFIX) for key in active if key.startswith(ALARM_PREFIX)],
            UNREACHABLE_KEY in active,
        )
    setup = build_setup(paging, config)
    owns_delivery = delivery is None
    if delivery is None:
        notification_log: NotificationLog = SQLiteLog(store_path)
        if journal is not None:
            notification_log = FailOpenNotificationLog(notification_log, journal, clock.now)
        delivery = Delivery(
            build_all(paging.notifiers, clock, files),
            notification_log,
            clock,
            observer=notifier_watch.attempt if notifier_watch is not None else None,
        )
    owns_record = record is None
    if record is None:
        record = SQLiteEscalationLog(store_path)
        if journal is not None:
            record = FailOpenEscalationLog(record, journal, clock.now)
    return Escalator(
        source, delivery, setup, record, clock, owns_delivery=owns_delivery, owns_record=owns_record
    )
