"""The outbox: pages written to a file (one JSON line each) and to stderr, nothing sent.

What the demo uses when no credentials are configured, and a last-resort channel that cannot
fail for network reasons: the JSON line holds the notification, the recipient and the exact
SMS text that would have gone out, so a test or an operator can see what people would get.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import sys
from pathlib import Path
from typing import Literal, TextIO

from alarms.notify.base import DeliveryResult, NotifierSettings, NotifyError
from alarms.notify.message import Notification
from alarms.notify.sms import compose_sms
from alarms.people import Person
from monitor.core.file_access import FileAccess


class OutboxSettings(NotifierSettings):
    type: Literal["outbox"] = "outbox"
    path: Path | None = None
    """JSON-lines file, appended to; ``None``: stderr only."""
    stderr: bool = True


class OutboxNotifier:
    """Appends one line per notification; the provider id is ``outbox:<name>:<run>-<n>``, with
    ``<run>`` random per process, so ids never repeat across restarts in the log or the file."""

    def __init__(
        self,
        name: str,
        settings: OutboxSettings,
        stream: TextIO | None = None,
        files: FileAccess | None = None,
    ) -> None:
        self.name = name
        self.settings = settings
        self._stream = stream
        self._files = files or FileAccess()
        self._count = 0
        self._run = secrets.token_hex(4)
        self._lock = asyncio.Lock()

    async def send(self, notification: Notification, target: Person) -> DeliveryResult:
        text = compose_sms(notification)
        async with self._lock:
            self._count += 1
            provider_id = f"outbox:{self.name}:{self._run}-{self._count}"
            line = {
                "provider_id": provider_id,
                "to": {"id": target.id, "name": target.name},
                "text": text,
                "notification": notification.model_dump(mode="json"),
            }
            if self.settings.path is not None:
                try:
                    fd = self._files.open(self.settings.path, os.O_WRONLY | os.O_APPEND)
                    try:
                        os.write(fd, (json.dumps(line, ensure_ascii=False) + "\n").encode())
                    finally:
                        os.close(fd)
                except OSError as exc:
                    raise NotifyError(
                        f"cannot write {self.settings.path}: {exc.strerror}", retryable=True
                    ) from None
            if self.settings.stderr:
                stream = self._stream or sys.stderr
                print(f"[coldwatch page to {target.name}] {text}", file=stream, flush=True)
        return DeliveryResult(provider_id)

    async def aclose(self) -> None:
        pass
