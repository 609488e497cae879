"""The web console as the daemon starts it: :func:`listen` first (a port in use stops the
start before anything is opened), then :func:`serve_console` once the store writer exists."""

from __future__ import annotations

from monitor.app.web.app import create_app
from monitor.app.web.context import AlarmReader, AuditReader, WebContext
from monitor.app.web.server import Listener, WebListenError, WebServer, listen
from monitor.config.sections import Site
from monitor.core.clock import Clock
from monitor.identity.admin import UserAdmin
from monitor.identity.service import IdentityService
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
    audit: AuditReader | None = None,
) -> WebServer | None:
    """The console on ``listener``, ready to ``await start()``; None when it is off."""
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
        audit=audit,
        timezone=site.timezone,
    )
    return WebServer(create_app(context), listener, context.streams)
