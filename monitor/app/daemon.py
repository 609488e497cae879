"""The coldwatch daemon: configuration -> store -> pipeline -> coordinator, and a clean stop.

On SIGTERM/SIGINT, or ``coldwatch stop|restart --reason`` through the control socket, the
coordinator stops polling first, then the store writer commits every reading it accepted
before the process exits. Who stopped it and why (or which signal, its sender unknown) is in
the ``daemon_stopped`` event (:class:`~monitor.runtime.stop_record.StopRecord`): the next start
tells the gap's story with it. What follows a stop (exit, or run again) is
:mod:`monitor.app.restart`'s.
"""

from __future__ import annotations

import asyncio
import contextlib
import getpass
import itertools
import logging
import os
import signal
import socket
from pathlib import Path

from alarms.ack.config import AckConfig
from alarms.ack.control_socket import ReloadRequest, StopRequest
from alarms.ack.services import AckServices
from alarms.engine import AlarmEngine
from alarms.escalation.config import PagingConfig
from alarms.escalation.escalator import Escalator
from alarms.escalator_builder import build_escalator
from alarms.model import Announcement
from alarms.notify.registry import remote_notifiers
from alarms.notify.watch import NotifierWatch
from alarms.people import Directory
from monitor import __version__
from monitor.app.config import LoadedConfig
from monitor.app.config_audit import Attribution, start_attribution
from monitor.app.config_reload import audit_load, read_previous, reload_config
from monitor.app.daemon_access import DaemonAccess
from monitor.app.identity_wiring import IdentityParts, audit_sink, open_identity
from monitor.app.web.console import WebListenError, listen, serve_console
from monitor.core.boot_clock import BootClock, BootStamp, read_boot_stamp
from monitor.core.clock import Clock, SystemClock
from monitor.core.file_access import FileAccess
from monitor.core.metrics import Metrics
from monitor.core.model import Event, EventKind
from monitor.identity.commands import control_handlers
from monitor.runtime.coordinator import Coordinator
from monitor.runtime.health import HealthMonitor, last_run_marker, record_downtime
from monitor.runtime.live import LiveValues
from monitor.runtime.pipeline import Pipeline
from monitor.runtime.stop_record import StopRecord
from monitor.store.audit_journal import AuditJournal
from monitor.store.base import Store, StoreError
from monitor.store.factory import fallback_journal_path, open_store, sqlite_path, store_access
from monitor.store.fallback_journal import FallbackJournal
from monitor.store.lock import StoreLock
from monitor.store.writer import StoreWriter

log = logging.getLogger(__name__)

#: How often records waiting in the fallback journal are offered to the store again.
JOURNAL_REPLAY_INTERVAL = 5.0
#: At most this many records per offer (about half a second of synced commits).
JOURNAL_REPLAY_BATCH = 200


def service_user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no passwd entry in some containers
        return f"uid:{os.getuid()}"


def log_announcement(announcement: Announcement) -> None:
    """Every alarm announcement in the daemon's log, whatever else pages people."""
    view = announcement.alarm
    if view is None:
        log.warning("alarm flood: %s", announcement.kind.value)
        return
    log.warning(
        "alarm %s %s: %s (%s, priority %s)%s",
        view.code or view.key,
        announcement.kind.value,
        view.message,
        view.key,
        view.priority.value,
        " [late data]" if announcement.late else "",
        extra={"alarm": view.code, "alarm_key": view.key, "announcement": announcement.kind.value},
    )


class Daemon:
    def __init__(
        self,
        loaded: LoadedConfig,
        clock: Clock | None = None,
        store: Store | None = None,
        base_dir: Path | None = None,
        config_path: Path | None = None,
        boot_clock: BootClock = read_boot_stamp,
    ) -> None:
        self.loaded = loaded
        self.boot_clock = boot_clock
        """Which boot and how long since it, in the run markers: the next start measures the
        gap on it (:mod:`monitor.runtime.gap_measure`)."""
        self.config_path = config_path
        """What ``coldwatch reload`` and SIGHUP read anew (None: nothing to reload)."""
        self.clock = clock or SystemClock()
        self.metrics = Metrics()
        cfg = loaded.config
        # one daemon per store, before anything is written or sent (a given store is the
        # caller's to guard)
        store_file = sqlite_path(cfg.store, base_dir)
        access = store_access(cfg.store)
        self.lock = StoreLock(store_file, access).acquire() if store is None else None
        try:  # a port in use ends the start here, before the store is opened
            web_listener = listen(cfg.web, base_dir) if cfg.web.enabled else None
        except WebListenError:
            if self.lock is not None:
                self.lock.release()
            raise
        self.store = store or open_store(cfg.store, base_dir)
        # what paging must record while the store refuses writes waits here (fail open)
        self.journal = FallbackJournal(fallback_journal_path(cfg.store, base_dir), files=access)
        self.audit = AuditJournal(self.store, self.journal)
        self.writer = StoreWriter(
            self.store,
            self.clock,
            self.metrics,
            queue_size=cfg.store.queue_size,
            max_batch=cfg.store.max_batch,
            commit_interval=cfg.store.commit_interval,
        )
        self.pipeline = Pipeline(self.metrics)
        self.health = HealthMonitor(
            self.pipeline, self.clock, self.writer, sqlite_path(cfg.store, base_dir).parent
        )
        self.identity = self._identity(store_file)
        self.access = DaemonAccess(
            self.identity.records if self.identity else None,
            self.clock,
            self.audit.write,
            self.health.clock_synchronised,
        )
        self.pipeline.queued.append(self.writer)
        self.live = LiveValues(cfg)
        """The latest values in memory, for the console's live dashboard."""
        self.pipeline.inline.append(self.live)
        self.stop_record: StopRecord | None = None
        """Who or what stopped this run (None: running, or stopped by its embedder)."""
        self.stop_requested = asyncio.Event()
        self.stoppable = False
        """Whether a stop request is acted on (:func:`run_until_signalled` waits for it)."""
        self.alarms: AlarmEngine | None = None
        self.notifier_watch: NotifierWatch | None = None
        if cfg.alarms is not None:
            self.alarms = AlarmEngine(
                cfg,
                self.store,
                self.clock,
                config_sha=loaded.sha256,
                person=service_user(),
                fallback=self.journal,
            )
            self.alarms.subscribe(log_announcement)
            self.pipeline.inline.insert(0, self.alarms)  # alarms first, before the dashboard's
            directory = Directory(cfg.people, cfg.groups)
            self.users = self.identity.cli_admin if self.identity else None
            self.ack: AckServices | None = AckServices(
                cfg.acknowledgement or AckConfig(),
                self.alarms,
                directory,
                self.clock,
                sqlite_path(cfg.store, base_dir),
                on_event=self.pipeline.publish_event,  # refusals, a few rows a minute at most
                metrics=self.metrics,
                files=access,
                on_stop=self.request_stop,
                on_reload=self.request_reload,
                control_commands=control_handlers(self.users) if self.users else None,
                authorise=self.access.check,
            )
            self.escalator = self._escalator(base_dir, access)
        else:
            self.users = None
            self.ack = None
            self.escalator = None
        self.coordinator = Coordinator(loaded, self.pipeline, self.clock, self.metrics)
        self.web = serve_console(
            web_listener,
            cfg.site,
            self.clock,
            self.writer,
            identity=self.identity.service if self.identity else None,
            users=self.identity.web_admin if self.identity else None,
            alarms=self.alarms,
            signing=self.identity.signing if self.identity else None,
            commands=self.alarms,
            pages_sent=self.escalator.delivery.log if self.escalator else None,
            store=self.store,
            acknowledger=self.ack.service if self.ack else None,
            site_config=cfg,
            live=self.live,
        )
        self.store.clock_synchronised = self.health.clock_synchronised
        self._health_task: asyncio.Task[None] | None = None
        self._journal_task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        person = service_user()
        version = self.store.record_config(
            self.loaded.effective_json,
            self.loaded.sha256,
            self.loaded.sources,
            self.clock.now(),
            person,
        )
        last_run = last_run_marker(self.store)
        here = self.boot_clock()
        started = Event(
            self.clock.now(),
            EventKind.DAEMON_STARTED,
            "daemon",
            f"coldwatch {__version__} started on {socket.gethostname()}",
            {"version": __version__, "pid": os.getpid(), **_boot_data(here)},
            person,
        )
        try:
            # On disk (fsynced, whatever the store's synchronous setting) before anything can
            # page or write alarm records: a run killed in its first second, or by a power
            # loss, is still found unclean at the next start.
            self.store.append_durable([], [started])
            started_queued = False
        except StoreError as exc:  # a full disk must not keep the monitor from monitoring
            log.error("cannot record the start now (%s); queued with the readings", exc)
            started_queued = True
        await self.pipeline.start()
        if started_queued:
            self.pipeline.publish_event(started)
        self._replay_journal()  # what waited from the last run, before anything reads it back
        if self.alarms is not None:
            await self.alarms.start()
        if self.escalator is not None:
            await self.escalator.start()
        if self.ack is not None:
            await self.ack.start()
        audit_load(
            self,
            "start",
            start_attribution(last_run, self.clock.now()),
            version,
            read_previous(self),
        )
        now = self.clock.now()
        record_downtime(
            self.store,
            self.pipeline,
            list(self.loaded.config.channels()),
            self._expected_intervals(),
            now,
            last_run,
            here=here,
            synchronised=self.health.clock_synchronised(),
        )
        self.pipeline.publish_event(
            Event(
                now,
                EventKind.CONFIG_LOADED,
                "daemon",
                f"configuration {self.loaded.sha256[:12]} in force (version {version})",
                {
                    "config_version": version,
                    "sha256": self.loaded.sha256,
                    "sources": self.loaded.sources,
                },
                person,
            )
        )
        log.info(
            "started: %d devices, %d channels, config %s",
            len(self.coordinator.runners),
            len(self.loaded.config.channels()),
            self.loaded.sha256[:12],
        )
        await self.coordinator.start()
        self._health_task = asyncio.create_task(self.health.run(), name="health")
        self._journal_task = asyncio.create_task(self._replay_loop(), name="fallback-journal")
        if self.web is not None:
            await self.web.start()

    async def _replay_loop(self) -> None:
        start = self.clock.monotonic()
        for tick in itertools.count(1):
            await self.clock.sleep_until(start + tick * JOURNAL_REPLAY_INTERVAL)
            self._replay_journal(limit=JOURNAL_REPLAY_BATCH)

    def _replay_journal(self, limit: int | None = None) -> None:
        """Offer what waits in the fallback journal to the store (``limit`` entries at most:
        each is a synced commit, and the loop must keep polling and paging meanwhile)."""
        if not len(self.journal):
            return
        written = self.journal.replay(limit=limit)
        if written:
            log.warning(
                "%d records written to the store late, from the fallback journal (%d waiting)",
                written,
                len(self.journal),
            )

    def _identity(self, store_file: Path) -> IdentityParts | None:
        """Sign-in, sessions and user administration on this store's identity tables; None
        for a store that is not this SQLite file (an embedder's)."""
        from monitor.store.sqlite import SQLiteStore

        if not isinstance(self.store, SQLiteStore) or self.store.path != store_file:
            return None
        cfg = self.loaded.config
        return open_identity(
            store_file,
            cfg.web,
            self.clock,
            people=[person.id for person in cfg.people],
            on_audit=audit_sink(self.audit, self.health.clock_synchronised),
            on_event=self.pipeline.publish_event,  # account_locked raises its system alarm
            clock_synchronised=self.health.clock_synchronised,
        )

    def _escalator(self, base_dir: Path | None, files: FileAccess) -> Escalator | None:
        """Paging, when the configuration has an escalation section: the engine's
        announcements climb the call tree through the notifiers; the notification log and
        the escalation record live beside the store, in the same file; the notifier watch
        publishes its events (a notifier failing, none working) to the pipeline."""
        cfg = self.loaded.config
        paging = PagingConfig.of(cfg)
        if paging.escalation is None or self.alarms is None:
            return None
        self.notifier_watch = NotifierWatch(
            remote_notifiers(cfg.notifiers), self.pipeline.publish_event, self.clock
        )
        return build_escalator(
            self.alarms,
            paging,
            cfg,
            self.clock,
            sqlite_path(cfg.store, base_dir),
            notifier_watch=self.notifier_watch,
            journal=self.journal,
            files=files,
        )

    def _expected_intervals(self) -> dict[str, float]:
        """How old a channel's newest reading may be at start before it counts as a gap."""
        cfg = self.loaded.config
        intervals = {d.id: d.interval for d in cfg.devices}
        return {
            channel_id: 1.5 * intervals.get(channel.source.device, 0.0)
            for channel_id, (_, channel) in cfg.channels().items()
        }

    def request_stop(self, request: StopRequest) -> str | None:
        """``coldwatch stop|restart`` from the control socket: recorded at once (an event
        with the person), then the stop begins. None when accepted, else why not."""
        if not self.stoppable:
            return "this coldwatch is stopped by the program that runs it (Ctrl-C), not here"
        if self.stop_record is not None:
            return f"coldwatch is already stopping ({self.stop_record.describe()})"
        record = StopRecord(
            "restart" if request.restart else "stop",
            self.clock.now(),
            person=request.person,
            os_user=request.os_user,
            reason=request.reason,
        )
        self.stop_record = record
        log.warning("%s", record.describe(), extra={"person": record.person})
        self._audit_stop(record)
        self.pipeline.publish_event(
            Event(
                record.at,
                EventKind.STOP_REQUESTED,
                "daemon",
                f"coldwatch {record.describe()}",
                {"stop": record.to_json()},
                record.person,
            )
        )
        self.stop_requested.set()
        return None

    def signalled(self, name: str) -> None:
        """SIGTERM or SIGINT: a stop whose sender is unknown (unless one was asked for)."""
        if self.stop_record is None:
            self.stop_record = StopRecord("signal", self.clock.now(), signal=name)
            self._audit_stop(self.stop_record)
        self.stop_requested.set()

    def _audit_stop(self, record: StopRecord) -> None:
        self.audit.write([record.audit_entry(os.getpid(), self.health.clock_synchronised())])

    def request_reload(self, request: ReloadRequest) -> dict[str, object] | str:
        """``coldwatch reload --reason`` from the control socket (:mod:`monitor.app.config_reload`):
        what was taken, or why not."""
        who = Attribution("cli", request.person, request.os_user, request.reason)
        return reload_config(self, self.config_path, "reload", who)

    def hangup(self) -> None:
        """SIGHUP: reload without a person or a reason (a change is unattributed)."""
        outcome = reload_config(self, self.config_path, "signal", Attribution("system"))
        if isinstance(outcome, str):
            log.error("SIGHUP: the configuration was not reloaded: %s", outcome)

    async def stop(self) -> None:
        if self.web is not None:  # first: no command comes in while the rest stops
            await self.web.stop()
        for task in (self._health_task, self._journal_task):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        await self.coordinator.stop()
        if self.ack is not None:
            await self.ack.stop()
        if self.identity is not None:
            self.identity.close()
        if self.alarms is not None:
            await self.alarms.stop()  # its last announcements reach the escalator first
        if self.escalator is not None:
            await self.escalator.stop()
        record = self.stop_record
        try:  # the last readings and the stop marker on disk: a power loss now is no crash
            self.store.durable_from_now()
        except StoreError as exc:  # then a lost marker makes the next start unclean: it pages
            log.error("the stop may not reach the disk: %s", exc)
        data: dict[str, object] = {
            "metrics": self.metrics.snapshot(),
            **_boot_data(self.boot_clock()),
        }
        message = "coldwatch stopped cleanly"
        if record is not None:
            data["stop"] = record.to_json()
            message += f" ({record.describe()})"
        self.pipeline.publish_event(
            Event(
                self.clock.now(),
                EventKind.DAEMON_STOPPED,
                "daemon",
                message,
                data,
                record.person if record is not None else service_user(),
            )
        )
        await self.pipeline.stop()
        self.store.close()
        if self.lock is not None:
            self.lock.release()
        log.info("stopped; %d readings committed", self.metrics.get("store_readings_committed"))


def _boot_data(stamp: BootStamp | None) -> dict[str, object]:
    """A run marker's ``boot`` (none where there is no boot clock)."""
    return {"boot": stamp.to_json()} if stamp is not None else {}


async def run_until_signalled(daemon: Daemon) -> StopRecord | None:
    """Run until SIGTERM, SIGINT or a stop request; what stopped it."""
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, daemon.signalled, sig.name)
    loop.add_signal_handler(signal.SIGHUP, daemon.hangup)
    daemon.stoppable = True
    await daemon.start()
    try:
        await daemon.stop_requested.wait()
        record = daemon.stop_record
        log.info("stopping: %s", record.describe() if record else "asked to")
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            loop.remove_signal_handler(sig)
        await daemon.stop()
    return daemon.stop_record
