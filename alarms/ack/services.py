"""Everything the ``acknowledgement:`` section configures, built and started as one: what the
daemon wires in (``await AckServices(...).start()`` after the engine, ``stop()`` before it).

One :class:`~alarms.ack.acknowledger.Acknowledger` (so one lockout, one record of refusals)
serves every path, on the daemon's engine and clock. Refusals reach the store in aggregate
through ``on_event`` (:class:`~alarms.ack.refusals.RefusalLog`: a task closes each minute's
windows, and ``stop()`` records what is still open); ``on_refused`` sees every single one
(counters, tests; it must not write to the store); ``on_stop`` and ``on_reload`` take
``coldwatch stop|restart|reload``
from the control socket (the daemon's), ``control_commands`` the other commands it serves
(``coldwatch user ...``), ``authorise`` who may stop, restart and reload. The lockout is kept in
``ack_lockout_log`` in the store's file (:mod:`alarms.records.lockout_log`; open the store
first), opened and read back here, closed by ``stop()``: a restart neither unlocks a phone nor
forgets its wrong PINs. The Twilio listener remembers the signed requests it took in
``twilio-replay.log`` beside the store (:mod:`alarms.ack.replay`). A part that fails to start
stops the ones already started.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Protocol

from alarms.ack.acknowledger import Acknowledger
from alarms.ack.commands import AlarmCommands
from alarms.ack.config import POLL_STATE_NAME, REPLAY_NAME, AckConfig, os_user_map
from alarms.ack.control_socket import (
    Authorise,
    ControlServer,
    ExtraCommand,
    OnReload,
    OnStop,
)
from alarms.ack.lockout import PinLockout
from alarms.ack.refusals import OnEvent, OnRefused, RefusalLog
from alarms.ack.replay import ReplayGuard
from alarms.ack.twilio_poller import TwilioPoller
from alarms.ack.twilio_webhook import OnStatus, TwilioWebhook
from alarms.ack.voice import VoiceFlow
from alarms.notify.twilio_common import HttpClientFactory
from alarms.notify.twiml import Voice
from alarms.people import Directory
from alarms.records.lockout_log import LockoutLog, SQLiteLockoutLog
from monitor.core.clock import Clock
from monitor.core.file_access import FileAccess
from monitor.core.metrics import Metrics

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
        on_event: OnEvent | None = None,
        on_status: OnStatus | None = None,
        twilio_http: HttpClientFactory | None = None,
        lockout_log: LockoutLog | None = None,
        metrics: Metrics | None = None,
        files: FileAccess | None = None,
        on_stop: OnStop | None = None,
        on_reload: OnReload | None = None,
        control_commands: Mapping[str, ExtraCommand] | None = None,
        authorise: Authorise | None = None,
    ) -> None:
        lockout = config.lockout
        self.lockout_log = lockout_log or SQLiteLockoutLog(store_file)
        self.refusals = RefusalLog(on_refused, on_event=on_event, clock=clock, metrics=metrics)
        self.service = Acknowledger(
            commands,
            directory,
            clock,
            PinLockout(clock, lockout.attempts, lockout.window, lockout.duration, self.lockout_log),
            self.refusals,
        )
        self.replays = ReplayGuard(store_file.parent / REPLAY_NAME, files=files)
        self.webhook: TwilioWebhook | None = None
        self.poller: TwilioPoller | None = None
        self.control: ControlServer | None = None
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
                allow_remote=twilio.allow_remote,
                replays=self.replays,
            )
        elif twilio is not None:
            state = Path(twilio.state_file) if twilio.state_file else None
            self.poller = TwilioPoller(
                self.service,
                twilio,
                clock,
                state or store_file.parent / POLL_STATE_NAME,
                http_client=twilio_http,
                files=files,
            )
        socket = config.control_socket
        if socket.enabled:
            self.control = ControlServer(
                self.service,
                socket.resolved_path(store_file),
                os_user_map(directory.people.values()),
                mode=socket.file_mode,
                group=socket.group,
                on_stop=on_stop,
                on_reload=on_reload,
                extra_commands=control_commands,
                authorise=authorise,
            )
        self._parts: list[_Part] = [
            p for p in (self.control, self.webhook, self.poller) if p is not None
        ]
        self._started: list[_Part] = []
        self._flusher: asyncio.Task[None] | None = None

    async def start(self) -> None:
        if self.webhook is not None:
            self.replays.open()
        self._flusher = asyncio.create_task(self.refusals.run(), name="ack-refusals")
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
        flusher, self._flusher = self._flusher, None
        if flusher is not None:
            flusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await flusher
        self.refusals.flush(everything=True)
        self.replays.close()
        self.service.lockout.record = None  # nothing is accepted any more: nothing to write
        self.lockout_log.close()
