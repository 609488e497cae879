"""The web console as the daemon starts it: :func:`listen` first (a port in use stops the
start before anything is opened), then :func:`serve_console` once the store writer exists."""

from __future__ import annotations

from alarms.ack.acknowledger import Acknowledger
from monitor.app.signed_commands import SignedCommands
from monitor.app.web.app import create_app
from monitor.app.web.context import AlarmReader, AuditReader, LiveReader, PagesSent, WebContext
from monitor.app.web.server import Listener, WebListenError, WebServer, listen
from monitor.config.sections import Site, SiteConfig
from monitor.core.clock import Clock
from monitor.identity.admin import UserAdmin
from monitor.identity.service import IdentityService
from monitor.identity.signing import SigningService
from monitor.store.base import Store
from monitor.store.sqlite import SQLiteStore
from monitor.store.writer import StoreWriter

__all__ = ["Listener", "WebListenError", "WebServer", "listen", "serve_console"]


def serve_console(
    listener: Listener | None,
    site: Site,
    clock: Clock,
    writer: StoreWriter,
    *,
    identity: IdentityService | None = None,
    users: UserAdmin | None = None,
    alarms: AlarmReader | None = None,
    signing: SigningService | None = None,
    commands: SignedCommands | None = None,
    pages_sent: PagesSent | None = None,
    store: Store | None = None,
    acknowledger: Acknowledger | None = None,
    site_config: SiteConfig | None = None,
    live: LiveReader | None = None,
) -> WebServer | None:
    """The console on ``listener``, ready to ``await start()``; None when it is off. The
    audit page reads the trail and its signatures from ``store`` when it is a SQLite store, the
    equipment pages its readings, roll-up and configuration versions."""
    if listener is None:
        return None
    context = WebContext(
        listener.settings,
        site.id,
        site.name,
        clock,
        writer,
        identity=identity,
        users=users,
        alarms=alarms,
        signing=signing,
        commands=commands,
        pages_sent=pages_sent,
        audit=audit_reader_of(store),
        timezone=site.timezone,
        acknowledger=acknowledger,
        history=store if isinstance(store, SQLiteStore) else None,
        site_config=site_config,
        live=live,
        overview_store=store if isinstance(store, SQLiteStore) else None,
    )
    return WebServer(create_app(context), listener, context.streams)


def audit_reader_of(store: Store | None) -> AuditReader | None:
    """The store as the audit page reads it: a SQLite store (its reader connection), or
    None (an embedder's store: the page answers 503)."""
    return store if isinstance(store, SQLiteStore) else None
