"""What the web console reads from the daemon, handed to it when the app is made.

The console lives on the app floor beside the daemon but never imports it: the daemon gives
it these parts, and tests give it their own.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

from fastapi import Request

from alarms.ack.acknowledger import Acknowledger
from alarms.model import AlarmView
from alarms.notify.notification_log import LogRecord
from monitor.app.overview import OverviewStore
from monitor.app.signed_commands import SignedCommands
from monitor.app.web.config import WebConfig
from monitor.app.web.streams import OpenStreams
from monitor.app.web.unit_history import HistoryReader
from monitor.config.sections import SiteConfig
from monitor.core.clock import Clock
from monitor.identity.admin import UserAdmin
from monitor.identity.service import IdentityService
from monitor.identity.signing import SigningService
from monitor.runtime.live import ChannelNow
from monitor.store.base import AlarmRecord, AuditEntry, AuditQuery
from monitor.store.sqlite_signatures import StoredSignature
from monitor.store.writer import StoreWriter


class AlarmReader(Protocol):
    """The alarm engine's read-only queries (:class:`alarms.engine.AlarmEngine`)."""

    def active(self) -> list[AlarmView]: ...

    def get(self, target: str) -> AlarmView: ...

    def history(self, target: str) -> list[AlarmRecord]: ...


class PagesSent(Protocol):
    """The notification log's reading side (:mod:`alarms.records.notification_log`): every
    page of one alarm occurrence, to whom, when and how."""

    def for_alarm(self, alarm_id: str) -> list[LogRecord]: ...


class AuditReader(Protocol):
    """The store's audit trail and signatures, read (:class:`monitor.store.sqlite.SQLiteStore`:
    its reader connection, which never waits for a batch being written)."""

    def audit_entries(self, query: AuditQuery) -> list[AuditEntry]: ...

    def signatures(
        self, table: str | None = None, record_seq: int | None = None
    ) -> list[StoredSignature]: ...


class LiveReader(Protocol):
    """The latest values in memory (:class:`monitor.runtime.live.LiveValues`)."""

    @property
    def device_up(self) -> Mapping[str, bool]: ...

    def snapshot(self) -> Mapping[str, ChannelNow]: ...


@dataclass(frozen=True)
class WebContext:
    settings: WebConfig
    site_id: str
    site_name: str
    clock: Clock
    writer: StoreWriter
    """The store writer: whether writes succeed, and when the last batch was committed."""
    streams: OpenStreams = field(default_factory=OpenStreams)
    identity: IdentityService | None = None
    """Sign-in and sessions; None: nobody can sign in (every route but the public ones
    answers 503)."""
    users: UserAdmin | None = None
    """User administration for the users pages (the signed-in admin is the actor)."""
    alarms: AlarmReader | None = None
    """The alarm engine's queries; None without an ``alarms:`` section."""
    signing: SigningService | None = None
    """E-signatures (on ``identity``); None: the console signs nothing (commands answer 503)."""
    commands: SignedCommands | None = None
    """The alarm engine's signed commands (the same engine as ``alarms``)."""
    pages_sent: PagesSent | None = None
    """The notification log; None without paging (an alarm's page then lists no pages)."""
    audit: AuditReader | None = None
    """The audit trail for the audit page; None: the page answers 503."""
    timezone: str = "UTC"
    """The site's zone (``site.timezone``): pages show times in UTC and in it."""
    acknowledger: Acknowledger | None = None
    """The acknowledgement paths' one decider (PIN lockout, refusals recorded): the API
    tokens' ``POST /api/alarms/{target}/ack``; None without an ``alarms:`` section."""
    history: HistoryReader | None = None
    """Readings, the roll-up, configuration versions and alarm records for the equipment
    pages; None: they answer 503."""
    site_config: SiteConfig | None = None
    """Locations, units, channels and devices, for the dashboard and the overview; None:
    they show no unit."""
    live: LiveReader | None = None
    """The latest values in memory for the dashboard; None: every value shows as none."""
    overview_store: OverviewStore | None = None
    """The store the overview page reads (the same function as ``coldwatch status``);
    None: the page answers 503."""


def context_of(request: Request) -> WebContext:
    """The context of the app that serves ``request`` (a FastAPI dependency)."""
    context = request.app.state.context
    assert isinstance(context, WebContext)
    return context
