"""The background tasks that send pages.

Every delivery is a task of its own, so a slow SMS provider delays nobody else's page. The
tasks are kept by track, so that an acknowledgement cancels the pages of its alarm still
retrying (their log entries stay ``pending``; recovery after a restart asks
``Escalator.wanted``), and ``Escalator.stop`` cancels them all. A page of a step that fell due
is *watched*: when every one of its deliveries failed, its tier reached nobody and the owner is
told (:attr:`PageTasks.on_unreached`), so that the next tier is paged at once.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from alarms.notify.delivery import Delivery
from alarms.notify.message import Notification
from alarms.people import Person

log = logging.getLogger(__name__)

PageId = tuple[str, int]
"""A page: its track's id and its number in the track."""


@dataclass
class PageWatch:
    """The deliveries of one page still running, and whether any reached its person."""

    remaining: int
    continuing: bool
    """The policy's repeats are spent: the last tier keeps its interval even if unreached."""
    reached: bool = False


class PageTasks:
    """The running page tasks (:attr:`all`, and :attr:`by_track`) and the watched pages."""

    def __init__(self, delivery: Delivery, on_unreached: Callable[[PageId], None]) -> None:
        self.delivery = delivery
        self.on_unreached = on_unreached
        """Called when every delivery of a watched page failed (not for a continuing step)."""
        self.all: set[asyncio.Task[Any]] = set()
        self.by_track: dict[str, set[asyncio.Task[Any]]] = {}
        self.watches: dict[PageId, PageWatch] = {}

    def send(
        self,
        notification: Notification,
        person: Person,
        *,
        channels: list[str] | None = None,
        track_id: str | None = None,
        watched: PageId | None = None,
    ) -> None:
        """Deliver ``notification`` to ``person`` (on ``channels``; None: all theirs) in a task
        of its own, cancelled with the pages of ``track_id``; counted for ``watched``."""
        self.spawn(self._deliver(notification, person, channels, watched), track_id)

    def watch(self, page: PageId, deliveries: int, continuing: bool) -> None:
        """Watch ``page``, sent in ``deliveries`` deliveries."""
        self.watches[page] = PageWatch(deliveries, continuing)

    def spawn(self, work: Coroutine[Any, Any, None], track_id: str | None) -> None:
        task = asyncio.create_task(work, name="escalation-page")
        self.all.add(task)
        if track_id is not None:
            self.by_track.setdefault(track_id, set()).add(task)

        def done(finished: asyncio.Task[Any]) -> None:
            self.all.discard(finished)
            if track_id is not None:
                of_track = self.by_track.get(track_id)
                if of_track is not None:
                    of_track.discard(finished)
                    if not of_track:
                        del self.by_track[track_id]

        task.add_done_callback(done)

    def cancel(self, track_id: str) -> None:
        """Pages still retrying for an alarm that no longer needs them (the log keeps them
        ``pending``; recovery after a restart asks ``Escalator.wanted``)."""
        for task in self.by_track.pop(track_id, set()):
            task.cancel()
        for page in [page for page in self.watches if page[0] == track_id]:
            del self.watches[page]

    async def cancel_all(self) -> None:
        """Cancel every task and wait for them to end."""
        tasks = list(self.all)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _deliver(
        self,
        notification: Notification,
        person: Person,
        channels: list[str] | None,
        watched: PageId | None,
    ) -> None:
        ok = False
        try:
            outcome = await self.delivery.deliver(notification, person, channels)
            ok = outcome.ok
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("delivering %s to %s failed", notification.key, person.id)
        if watched is not None:
            self._delivered(watched, ok)

    def _delivered(self, page: PageId, ok: bool) -> None:
        """Every delivery of a page failed: its tier reached nobody, so the next tier is due
        now rather than after the wait (except once the policy keeps paging its last tier)."""
        watch = self.watches.get(page)
        if watch is None:
            return
        watch.reached = watch.reached or ok
        watch.remaining -= 1
        if watch.remaining > 0:
            return
        del self.watches[page]
        if not (watch.reached or watch.continuing):
            self.on_unreached(page)
