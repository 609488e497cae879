"""The local horns as last resort: when no page can leave the site, the building is told.

Every configured horn notifier is also a *place* the escalator can page without anyone
listing it in a tier: ``coldwatch/notifiers_all_failing`` (every remote notifier failing, see
``alarms.notify.watch``) pages all of them besides its tiers, so the horn sounds while that
alarm is unacknowledged and stops when it is acknowledged or paging works again (the horn's
``off_on``). The places resolve like people, so acknowledgement and back-to-normal updates,
restart recovery and the notification log treat them as any other recipient.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import datetime

from alarms.people import Person, TargetResolver

#: The system alarm on which every horn sounds.
UNREACHABLE_KEY = "coldwatch/notifiers_all_failing"

_PLACE_PREFIX = "coldwatch.horn."


def horn_places(horn_notifiers: Iterable[str]) -> dict[str, Person]:
    """A place per horn notifier, by place id."""
    places = {}
    for name in sorted(horn_notifiers):
        place_id = f"{_PLACE_PREFIX}{re.sub(r'[^a-z0-9_.-]', '-', name.lower())}"[:64]
        place = Person(id=place_id, name=f"horn {name}"[:100], channels=(name,))
        places[place.id] = place
    return places


class WithHorns:
    """A :class:`TargetResolver` that also knows the horn places by id."""

    def __init__(self, inner: TargetResolver, places: Mapping[str, Person]) -> None:
        self.inner = inner
        self.places = dict(places)

    def expand(self, target: str, at: datetime) -> list[Person]:
        return self.inner.expand(target, at)

    def person(self, person_id: str) -> Person | None:
        return self.places.get(person_id) or self.inner.person(person_id)
