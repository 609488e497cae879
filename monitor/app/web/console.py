"""The web console as the daemon starts it: listening socket, app and server in one step."""

from __future__ import annotations

from pathlib import Path

from monitor.app.web.app import create_app
from monitor.app.web.config import WebConfig
from monitor.app.web.context import WebContext
from monitor.app.web.server import WebListenError, WebServer, listen
from monitor.config.sections import Site
from monitor.core.clock import Clock
from monitor.store.writer import StoreWriter

__all__ = ["WebListenError", "WebServer", "open_console"]


def open_console(
    settings: WebConfig, site: Site, clock: Clock, writer: StoreWriter, base_dir: Path | None
) -> WebServer | None:
    """The console, listening but not yet serving (``await start()``); None when it is off.
    :class:`WebListenError` when it cannot listen or its TLS files cannot be used."""
    if not settings.enabled:
        return None
    sock = listen(settings)
    context = WebContext(settings, site.id, site.name, clock, writer)
    try:
        return WebServer(
            create_app(context), settings, sock, base_dir or Path.cwd(), context.streams
        )
    except BaseException:
        sock.close()
        raise
