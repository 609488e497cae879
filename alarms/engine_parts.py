"""What the alarm engine's pieces share, passed to them explicitly.

The engine (:mod:`alarms.engine`) builds these once; its inputs (:mod:`alarms.inputs`),
commands (:mod:`alarms.commands`), queries (:mod:`alarms.queries`), restart
(:mod:`alarms.restore`) and reload (:mod:`alarms.reload`) take them as arguments instead of
reaching into the engine, so none of them imports the engine.
"""

from __future__ import annotations

from dataclasses import dataclass

from alarms.lifecycle import Lifecycle
from alarms.records.alarm_history import Journal
from monitor.core.clock import Clock
from monitor.store.base import Store

MAX_TEXT = 2000
"""The longest free text (comment, reason, fault detail) recorded in the alarm history."""


@dataclass(frozen=True)
class EngineParts:
    """The collaborators fixed for an engine's lifetime: where records go and what moves the
    alarms through their states."""

    store: Store
    clock: Clock
    journal: Journal
    """The alarm-history rows queued for the engine's next commit."""
    life: Lifecycle
    """The alarm points and their state machine."""
