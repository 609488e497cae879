"""The web console's server: uvicorn, embedded in the daemon's own event loop.

The daemon owns the process: its signals (uvicorn's handlers are not installed), its logging
(uvicorn's configuration is not applied; its messages go through the daemon's handlers) and
its stop. The listening socket is bound and the TLS files loaded before the daemon opens its
store (:func:`listen`), so a port in use ends ``coldwatch run`` with one clear line instead of a
daemon without its console. At the stop, every open event stream is ended first
(:class:`~monitor.app.web.streams.OpenStreams`), then uvicorn closes its connections, waiting
at most :data:`GRACE_SECONDS` for requests still running.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import socket
import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import uvicorn
from fastapi import FastAPI

from monitor.app.web.config import WebConfig, tls_paths
from monitor.app.web.log_limits import RateLimitedServerLog
from monitor.app.web.streams import OpenStreams

log = logging.getLogger(__name__)

#: How long a stop waits for requests still being answered before cutting them.
GRACE_SECONDS = 2.0
#: At most this many connections at once; uvicorn answers the next with 503.
MAX_CONNECTIONS = 200
BACKLOG = 128


class WebListenError(Exception):
    """The web console cannot listen where the configuration says (the message says why)."""


@dataclass
class Listener:
    """Where the console listens: the bound socket and, over TLS, the loaded certificate."""

    settings: WebConfig
    sock: socket.socket
    tls: ssl.SSLContext | None

    @property
    def url(self) -> str:
        host, port = self.sock.getsockname()[:2]
        host = f"[{host}]" if ":" in host else host
        return f"{self.settings.scheme}://{host}:{port}/"

    def close(self) -> None:
        self.sock.close()


def listen(settings: WebConfig, base_dir: Path | None) -> Listener:
    """A socket listening on ``settings.bind:port`` with its TLS context (the files'
    relative paths from ``base_dir``), or :class:`WebListenError`."""
    tls = server_tls(settings, base_dir or Path.cwd())
    host = "127.0.0.1" if settings.bind == "localhost" else settings.bind
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, settings.port))
        sock.listen(BACKLOG)
        sock.setblocking(False)
    except OSError as exc:
        sock.close()
        raise WebListenError(_why(exc, host, settings.port)) from None
    return Listener(settings, sock, tls)


def server_tls(settings: WebConfig, base_dir: Path) -> ssl.SSLContext | None:
    """The server's TLS context (TLS 1.2 or newer), or None without ``tls``."""
    if settings.tls is None:
        return None
    cert, key = tls_paths(settings.tls, base_dir)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(cert, key)
    except (OSError, ValueError) as exc:  # ssl.SSLError is an OSError
        raise WebListenError(f"web console: cannot use {cert} with {key}: {exc}") from None
    return context


def _why(exc: OSError, host: str, port: int) -> str:
    where = f"web console: cannot listen on {host} port {port}"
    if exc.errno == errno.EADDRINUSE:
        return f"{where}: the port is in use by another program (choose another web.port)"
    if exc.errno == errno.EACCES:
        return f"{where}: permission denied (a port below 1024 needs privileges: use 8480)"
    if exc.errno == errno.EADDRNOTAVAIL:
        return f"{where}: this machine has no such address (web.bind)"
    return f"{where}: {exc.strerror or exc}"


class EmbeddedServer(uvicorn.Server):
    """uvicorn without its signal handlers: SIGTERM and SIGINT are the daemon's."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class WebServer:
    """``app`` served on ``listener`` (from :func:`listen`) once :meth:`start` is awaited,
    until :meth:`stop`, which ends ``streams`` first."""

    def __init__(self, app: FastAPI, listener: Listener, streams: OpenStreams) -> None:
        self.app = app
        self.listener = listener
        self.settings = listener.settings
        self.streams = streams
        config = uvicorn.Config(
            app,
            http="h11",
            ws="none",
            lifespan="off",
            log_config=None,
            access_log=False,
            server_header=False,
            timeout_graceful_shutdown=int(GRACE_SECONDS),
            limit_concurrency=MAX_CONNECTIONS,
            proxy_headers=True,  # X-Forwarded-For/-Proto from a reverse proxy on this machine
            forwarded_allow_ips="127.0.0.1",  # only (not from the environment)
        )
        config.load()
        config.ssl = listener.tls  # loaded by listen(), before the daemon recorded its start
        self.server = EmbeddedServer(config)
        self.log_limit = RateLimitedServerLog()
        self._task: asyncio.Task[None] | None = None

    @property
    def url(self) -> str:
        return self.listener.url

    async def start(self) -> None:
        self.log_limit.install()
        self._task = asyncio.create_task(self._serve(), name="web")
        public = f" (public address {self.settings.public_url})" if self.settings.public_url else ""
        log.info("web console on %s%s", self.url, public)

    async def _serve(self) -> None:
        try:
            await self.server.serve(sockets=[self.listener.sock])
        except SystemExit:  # uvicorn ends a failed start so; this process is the daemon's
            log.error("the web console could not start; monitoring and paging go on without it")
        except Exception:
            log.exception("the web console stopped; monitoring and paging go on without it")

    async def stop(self) -> None:
        """End every open stream, then the server (at most about :data:`GRACE_SECONDS`)."""
        self.streams.close_all()
        self.server.should_exit = True
        task, self._task = self._task, None
        if task is not None:
            try:
                await asyncio.wait_for(asyncio.shield(task), GRACE_SECONDS + 2.0)
            except TimeoutError:
                log.error("the web console did not stop in time; its connections are cut")
                self.server.force_exit = True
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self.listener.close()
        self.log_limit.remove()
