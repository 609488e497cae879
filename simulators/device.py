"""One simulated device: a model, its identity, and the events it has produced.

Front ends read the model through this object and subscribe to its events; the simulation
advances it. Everything runs on one event loop, so a fault set from the control endpoint
and a protocol read never race.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable
from typing import Any

from simulators.models import Event, Model

#: Events kept for the status page (the model's own log is drained on every advance).
RECENT_EVENTS = 50

EventListener = Callable[[list[Event]], None]


class SimDevice:
    def __init__(self, device_id: str, model: Model, name: str | None = None) -> None:
        self.id = device_id
        self.model = model
        self.name = name
        self.recent: deque[Event] = deque(maxlen=RECENT_EVENTS)
        self._listeners: list[EventListener] = []

    @property
    def kind(self) -> str:
        return self.model.kind

    @property
    def answering(self) -> bool:
        """False under ``comm_drop``: every front end goes silent."""
        return self.model.answering

    def subscribe(self, listener: EventListener) -> None:
        self._listeners.append(listener)

    def advance(self, seconds: float) -> None:
        """Run the model for ``seconds`` of simulated time and hand on its events."""
        self.model.advance(seconds)
        events = self.model.drain_events()
        if events:
            self.recent.extend(events)
            for listener in self._listeners:
                listener(events)

    def set_fault(self, name: str, active: bool = True) -> None:
        """Start (or end) a fault. Raises ValueError naming the faults this kind accepts."""
        if active:
            self.model.set_fault(name)
        else:
            self.model.clear_fault(name)

    def status(self) -> dict[str, Any]:
        st = self.model.status
        return {
            "id": self.id,
            "kind": self.kind,
            "state": st.state,
            "simulated_s": round(st.time_s, 3),
            "faults": list(st.faults),
            "accepted_faults": sorted(self.model.accepted_faults()),
            "answering": st.answering,
            "values": {k: _jsonable(v) for k, v in self.model.values().items()},
            "recent_events": [
                {"kind": e.kind, "at_s": e.at_s, "message": e.message} for e in self.recent
            ],
        }


def _jsonable(value: float | str | None) -> float | str | None:
    if isinstance(value, float) and not math.isfinite(value):  # NaN is not JSON
        return None
    return value
