"""SMS replies without inbound traffic: list them from Twilio every ``poll_interval``.

For sites whose firewall lets nothing in. Each poll lists the messages sent *to* our numbers
since the cursor (minus an overlap: Twilio's times have one-second resolution and a message
may be listed late), takes the inbound ones not yet processed, oldest first, acknowledges
through the same :class:`~alarms.ack.acknowledger.Acknowledger` as the webhook, and answers by SMS.
After each message the cursor and the SIDs seen within the overlap are written to a small state
file (atomically), so a restart neither loses nor repeats one; a crash between the
acknowledgement and the write repeats it once, and the engine then answers that there is
nothing to acknowledge. A message is trusted as Twilio's because it was fetched from
Twilio's API over TLS with our credentials: no signature is involved.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from alarms.ack.acknowledger import Acknowledger
from alarms.ack.config import TwilioInboundSettings
from alarms.ack.twilio_webhook import REPLY_SEPTETS
from alarms.notify.sms import to_gsm7, truncate
from alarms.notify.twilio_common import TWILIO_FAILURES, HttpClientFactory, TwilioClient
from monitor.core.clock import Clock
from monitor.core.file_access import FileAccess
from monitor.core.logs import RateLimiter

log = logging.getLogger("alarms.ack")

OVERLAP = timedelta(minutes=5)
PAGE_LIMIT = 500


@dataclass
class PollState:
    """The cursor (newest message time processed) and the SIDs seen since ``cursor - OVERLAP``."""

    cursor: datetime
    seen: dict[str, datetime] = field(default_factory=dict)

    @staticmethod
    def load(path: Path, default_cursor: datetime) -> PollState:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            return PollState(
                datetime.fromisoformat(data["cursor"]),
                {sid: datetime.fromisoformat(at) for sid, at in data["seen"].items()},
            )
        except FileNotFoundError:
            return PollState(default_cursor)
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            log.error(
                "Twilio poll state %s unreadable (%s): starting from %s",
                path,
                exc,
                default_cursor.isoformat(),
            )
            return PollState(default_cursor)

    def save(self, path: Path, files: FileAccess | None = None) -> None:
        """Atomically, ``0640`` with the store's group (:class:`FileAccess`)."""
        horizon = self.cursor - OVERLAP
        self.seen = {sid: at for sid, at in self.seen.items() if at >= horizon}
        data = {
            "cursor": self.cursor.isoformat(),
            "seen": {sid: at.isoformat() for sid, at in sorted(self.seen.items())},
        }
        tmp = path.with_name(path.name + ".tmp")
        fd = (files or FileAccess()).open(tmp, os.O_WRONLY | os.O_TRUNC)
        try:
            os.write(fd, json.dumps(data).encode())
            os.fsync(fd)
        finally:
            os.close(fd)
        tmp.replace(path)

    def take(self, sid: str, at: datetime) -> None:
        self.seen[sid] = at
        self.cursor = max(self.cursor, at)


class TwilioPoller:
    """``await start()`` polls now and every ``poll_interval`` on ``clock``; ``await stop()``."""

    def __init__(
        self,
        service: Acknowledger,
        settings: TwilioInboundSettings,
        clock: Clock,
        state_path: Path,
        *,
        http_client: HttpClientFactory | None = None,
        files: FileAccess | None = None,
    ) -> None:
        self.service = service
        self.settings = settings
        self.clock = clock
        self.state_path = state_path
        self.files = files or FileAccess()
        self._twilio = TwilioClient(settings, http_client)
        self._state: PollState | None = None
        self._task: asyncio.Task[None] | None = None
        self._limiter = RateLimiter(300.0)

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="twilio-poller")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self._twilio.aclose()

    async def _run(self) -> None:
        while True:
            try:
                await self.poll_once()
            except TWILIO_FAILURES as exc:
                self._warn("poll", f"listing Twilio messages failed: {type(exc).__name__}: {exc}")
            except Exception:
                log.exception("Twilio poll failed")
            await self.clock.sleep_until(self.clock.monotonic() + self.settings.poll_interval)

    def state(self) -> PollState:
        if self._state is None:
            lookback = timedelta(seconds=self.settings.poll_lookback)
            self._state = PollState.load(self.state_path, self.clock.now() - lookback)
        return self._state

    async def poll_once(self) -> int:
        """List, process and answer new replies; returns how many were processed."""
        state = self.state()
        client = self._twilio.get()
        since = state.cursor - OVERLAP
        found: list[tuple[datetime, str, Any, str]] = []
        for number in self.settings.numbers:
            async with asyncio.timeout(self.settings.timeout):
                messages = await client.messages.list_async(
                    to=number, date_sent_after=since, limit=PAGE_LIMIT
                )
            for message in messages:
                sid, at = str(message.sid or ""), message.date_sent or message.date_created
                if (
                    not sid
                    or at is None
                    or sid in state.seen
                    or at < state.cursor - OVERLAP
                    or not str(message.direction or "").startswith("inbound")
                ):
                    continue
                found.append((at, sid, message, number))
        found.sort(key=lambda item: (item[0], item[1]))
        for at, sid, message, number in found:
            outcome = self.service.sms(str(message.from_ or ""), str(message.body or ""))
            state.take(sid, at)
            self.files.make_dir(self.state_path.parent)
            state.save(self.state_path, self.files)
            await self._reply(str(message.from_ or ""), number, outcome.reply)
        return len(found)

    async def _reply(self, to: str, sender: str, text: str) -> None:
        if not to:
            return
        try:
            async with asyncio.timeout(self.settings.timeout):
                await self._twilio.get().messages.create_async(
                    to=to, from_=sender, body=truncate(to_gsm7(text), REPLY_SEPTETS)
                )
        except TWILIO_FAILURES as exc:
            self._warn(f"reply:{to}", f"the reply to {to} was not sent: {type(exc).__name__}")

    def _warn(self, key: str, text: str) -> None:
        allowed, suppressed = self._limiter.allow(key)
        if allowed:
            more = f" ({suppressed} more not logged)" if suppressed else ""
            log.warning("%s%s", text, more)
