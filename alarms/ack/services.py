"""Everything the ``acknowledgement:`` section configures, built and started as one: what the
daemon wires in (``await AckServices(...).start()`` after the engine, ``stop()`` before it).

One :class:`~alarms.ack.acknowledger.Acknowledger` (so one lockout) serves every path, on the
daemon's engine and clock. The lockout is kept in ``ack_lockout_log`` in the store's file
(:mod:`alarms.records.lockout_log`; open the store first), opened and read back here, closed by
``stop()``: a restart neither unlocks a phone nor forgets its wrong PINs. A part that fails to
start stops the ones already started.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from alarms.ack.acknowledger import Acknowledger
from alarms.ack.commands import AlarmCommands
from alarms.ack.config import POLL_STATE_NAME, AckConfig, HttpApiSettings, os_user_map
from alarms.ack.control_socket import ControlServer
from alarms.ack.http_api import HttpApi
from alarms.ack.lockout import PinLockout
from alarms.ack.refusals import OnRefused, RefusalLog
from alarms.ack.twilio_poller import TwilioPoller
from alarms.ack.twilio_webhook import OnStatus, TwilioWebhook
from alarms.ack.voice import VoiceFlow
from alarms.notify.twilio_common import HttpClientFactory
from alarms.notify.twiml import Voice
from alarms.people import Directory
from alarms.records.lockout_log import LockoutLog, SQLiteLockoutLog
from monitor.core.clock import Clock

log = logging.getLogger("alarms.ack")


class _Part(Protocol):
    async def start(self) -> None: ...

    async def stop(self) -> None: ...


class AckServices:
    def __init__(
        self,
        config: AckConfig,
        commands: AlarmCommands,
        directory: Directory,
        clock: Clock,
        store_file: Path,
        *,
        on_refused: OnRefused | None = None,
        on_status: OnStatus | None = None,
        twilio_http: HttpClientFactory | None = None,
        lockout_log: LockoutLog | None = None,
    ) -> None:
        lockout = config.lockout
        self.lockout_log = lockout_log or SQLiteLockoutLog(store_file)
        self.service = Acknowledger(
            commands,
            directory,
            clock,
            PinLockout(clock, lockout.attempts, lockout.window, lockout.duration, self.lockout_log),
            RefusalLog(on_refused),
        )
        self.webhook: TwilioWebhook | None = None
        self.poller: TwilioPoller | None = None
        self.control: ControlServer | None = None
        self.http: HttpApi | None = None
        twilio = config.twilio
        if twilio is not None and twilio.mode == "webhook":
            assert twilio.public_base_url is not None  # the settings require it
            voice = VoiceFlow(
                self.service,
                twilio.public_base_url,
                Voice(twilio.voice, twilio.language),
                twilio.voice_comment,
            )
            self.webhook = TwilioWebhook(
                self.service,
                twilio.public_base_url,
                lambda: twilio.required_secret("auth_token"),
                voice=voice,
                on_status=on_status,
                host=twilio.host,
                port=twilio.port,
            )
        elif twilio is not None:
            state = Path(twilio.state_file) if twilio.state_file else None
            self.poller = TwilioPoller(
                self.service,
                twilio,
                clock,
                state or store_file.parent / POLL_STATE_NAME,
                http_client=twilio_http,
            )
        socket = config.control_socket
        if socket.enabled:
            self.control = ControlServer(
                self.service,
                socket.resolved_path(store_file),
                os_user_map(directory.people.values()),
                mode=socket.file_mode,
                group=socket.group,
            )
        api = config.http_api
        if api.enabled:
            self.http = HttpApi(
                self.service,
                host=api.host,
                port=api.port,
                allow_remote=api.allow_remote,
                token=_token(api),
            )
        self._parts: list[_Part] = [
            p for p in (self.control, self.webhook, self.poller, self.http) if p is not None
        ]
        self._started: list[_Part] = []

    async def start(self) -> None:
        for part in self._parts:
            try:
                await part.start()
            except BaseException:
                await self.stop()
                raise
            self._started.append(part)

    async def stop(self) -> None:
        while self._started:
            part = self._started.pop()
            try:
                await part.stop()
            except Exception:
                log.exception("stopping %s failed", type(part).__name__)
        self.service.lockout.record = None  # nothing is accepted any more: nothing to write
        self.lockout_log.close()


def _token(api: HttpApiSettings) -> Callable[[], str | None] | None:
    if not (api.bearer_token or api.bearer_token_env or api.bearer_token_file):
        return None
    return lambda: api.secret("bearer_token")
