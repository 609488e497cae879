"""The web console for tests: served for real over loopback TCP, either by a ``coldwatch run``
process (:func:`web_daemon_config`, :func:`start_daemon`) or, with routes a test adds, by
the console's own server in a thread of the test process (:class:`ThreadedConsole`)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import anyio
import httpx
import yaml
from fastapi import APIRouter, FastAPI, Form, Query
from pydantic import BaseModel, ConfigDict, Field, field_validator

from monitor.app.web.app import create_app
from monitor.app.web.config import WebConfig
from monitor.app.web.context import LiveReader, WebContext
from monitor.app.web.server import WebServer, listen
from monitor.config.sections import Site, SiteConfig
from monitor.core.clock import Clock, SystemClock
from monitor.core.metrics import Metrics
from monitor.store.sqlite import SQLiteStore
from monitor.store.writer import StoreWriter
from tests.support.identity_web import console_identity
from tests.support.paths import REPO
from tests.support.ports import free_port


def _import_anyio_now() -> None:
    """anyio imports its parts on first use; Starlette's first static file would import one in
    the server's thread while pytest's import hook (which rewrites anyio, a pytest plugin) may
    be parsing in the test's thread, and CPython 3.11's parser is not safe for that
    ("AST constructor recursion depth mismatch"). Import them all here, in the test's thread."""
    for name in dir(anyio):
        if not name.startswith("_"):
            getattr(anyio, name)


_import_anyio_now()

#: sha256 of the vendored htmx.min.js (monitor/app/web/static/vendor/htmx/README.md).
HTMX_SHA256 = "d6fdc75f204e6bdefa99b69bf1e6d4ac69b8a364f77929f45c13476b4000f717"
HTMX_PATH = "/static/vendor/htmx/htmx.min.js"
#: sha256 of the vendored uPlot.iife.min.js (monitor/app/web/static/vendor/uplot/README.md).
UPLOT_SHA256 = "19c8d4c6ad88929a79f4ae49d6f7161566dfd0ba3d15cc495e974f787eb78f1f"
UPLOT_PATH = "/static/vendor/uplot/uPlot.iife.min.js"


def web_daemon_config(tmp_path: Path, web: dict[str, Any], *, interval: str = "1s") -> Path:
    """The example configuration with its store in ``tmp_path``, fast polls of devices nobody
    serves (every poll still stores a reading, of bad quality) and ``web`` as its web section."""
    data: dict[str, Any] = yaml.safe_load((REPO / "config" / "example.yaml").read_text())
    data["store"]["path"] = str(tmp_path / "cw.db")
    data["logging"] = {"level": "info", "format": "text"}
    for device in data["devices"]:
        device["interval"] = interval
        device["timeout"] = "500ms"
        device["settings"]["request_timeout"] = "200ms"
        device["backoff"] = {"initial": interval, "max": interval}
    data["devices"][0]["settings"]["port"] = free_port()
    data["devices"][1]["settings"]["serial_port"] = f"socket://127.0.0.1:{free_port()}"
    data["web"] = web
    path = tmp_path / "coldwatch.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def start_daemon(config: Path, cwd: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "monitor.app.cli", "run", "-c", str(config)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        cwd=cwd,
    )


def wait_until_serving(
    url: str, proc: subprocess.Popen[str] | None = None, timeout: float = 30.0, **client: Any
) -> None:
    """Until ``url`` + ``healthz`` answers 200 (or the process ends: AssertionError)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"the daemon exited {proc.returncode}: {proc.communicate()}")
        try:
            if httpx.get(url + "healthz", timeout=2, **client).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"{url} did not answer within {timeout} s")


def stop_daemon(proc: subprocess.Popen[str], timeout: float = 15.0) -> tuple[str, str]:
    if proc.poll() is None:
        proc.terminate()
    try:
        return proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        return proc.communicate()


class ThreadedConsole:
    """The console's app (plus ``routes``) served by :class:`WebServer` on a free loopback
    port, its event loop in a thread of its own so that a test can call it synchronously."""

    def __init__(
        self,
        tmp_path: Path,
        *,
        routes: APIRouter | None = None,
        customise: Callable[[FastAPI], None] | None = None,
        clock: Clock | None = None,
        timezone: str = "UTC",
        site_config: SiteConfig | None = None,
        live: LiveReader | None = None,
        **settings: Any,
    ) -> None:
        self.settings = WebConfig(port=free_port(), **settings)
        self.store_file = tmp_path / "web.db"
        self.store = SQLiteStore(self.store_file)
        self.store.open()  # the audit page reads it
        clock = clock or SystemClock()
        self.writer = StoreWriter(self.store, clock, Metrics())
        self.identity = console_identity(self.store_file, clock, self.settings)
        self.context = WebContext(
            self.settings,
            "test-site",
            "Test site",
            clock,
            self.writer,
            identity=self.identity.service,
            users=self.identity.admin,
            audit=self.store,
            timezone=timezone,
            history=self.store,
            site_config=site_config or SiteConfig(site=Site(id="test-site", name="Test site")),
            live=live,
            overview_store=self.store,
        )
        self.app = create_app(self.context)
        if routes is not None:
            self.app.include_router(routes)
        if customise is not None:
            customise(self.app)
        self.url = self.settings.local_url()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="web-test-server", daemon=True)
        self.server: WebServer | None = None
        self.error: BaseException | None = None

    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as exc:  # reported by __enter__ or __exit__
            self.error = exc
            self._ready.set()

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        self.server = WebServer(self.app, listen(self.settings, REPO), self.context.streams)
        await self.server.start()
        self._ready.set()
        await self._stop.wait()
        await self.server.stop()

    def __enter__(self) -> ThreadedConsole:
        self.identity.start_threads()
        self._thread.start()
        self._ready.wait(10)
        if self.error is not None:
            raise self.error
        # a readiness probe only: the tests check the certificate themselves
        wait_until_serving(self.url, timeout=10, verify=self.settings.tls is None)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)
        self.identity.close()
        self.store.close()
        assert not self._thread.is_alive(), "the test web server did not stop"


def self_signed(folder: Path, name: str = "web") -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and localhost and its key, made by the openssl command
    (``make test-deps`` installs it)."""
    cert, key = folder / f"{name}-cert.pem", folder / f"{name}-key.pem"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
            "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2", "-subj", "/CN=localhost",
            "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
            "-keyout", str(key), "-out", str(cert),
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return cert, key


class ProbeItem(BaseModel):
    """As an API's bodies should be: closed, and a count is a JSON integer (``31.0`` is one,
    ``false`` is not)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=50)
    count: int = Field(ge=0, le=1000)
    note: str | None = Field(default=None, max_length=200)

    @field_validator("count", mode="before")
    @classmethod
    def _not_a_bool(cls, value: object) -> object:
        if isinstance(value, bool | str):
            raise ValueError("must be a JSON integer")
        return value


class ProbeStored(BaseModel):
    name: str
    count: int
    note: str | None


def probe_routes() -> APIRouter:
    """Routes that take every kind of input (a JSON body, path and query parameters, a form)
    to probe the console's answers to bad input; and one that fails (a bug)."""
    router = APIRouter(prefix="/api/probe", tags=["probe"])

    @router.post("/items", response_model=ProbeStored, status_code=201)
    async def add_item(item: ProbeItem) -> ProbeStored:
        return ProbeStored(name=item.name, count=item.count, note=item.note)

    @router.get("/items/{item_id}", response_model=ProbeStored)
    async def get_item(
        item_id: int,
        verbose: Annotated[bool, Query()] = False,
        limit: Annotated[int, Query(ge=1, le=100)] = 10,
    ) -> ProbeStored:
        return ProbeStored(name=f"item {item_id}", count=limit, note="v" if verbose else None)

    @router.post("/form", response_model=ProbeStored)
    async def post_form(
        name: Annotated[str, Form(min_length=1, max_length=50)],
        count: Annotated[int, Form(ge=0, le=1000)],
    ) -> ProbeStored:
        return ProbeStored(name=name, count=count, note=None)

    @router.get("/bug", include_in_schema=False)
    async def bug() -> None:
        raise RuntimeError("a bug with a secret-looking detail: hunter2")

    return router


def run_schemathesis(
    openapi_url: str,
    cwd: Path,
    *,
    max_examples: int = 20,
    seed: int = 12,
    headers: dict[str, str] | None = None,
    quiet_404: bool = False,
) -> subprocess.CompletedProcess[str]:
    """schemathesis (every check: no 5xx, answers as the document says, bad data refused,
    good data accepted) against a served OpenAPI document; a fixed seed, no example
    database, so a run is repeatable and leaves nothing behind. A body over the server's
    size limit is refused with 413 before it is parsed: that too rejects bad data."""
    (cwd / "schemathesis.toml").write_text(
        "[checks.negative_data_rejection]\n"
        'expected-statuses = ["400", "401", "403", "404", "406", "413", "422", "428"]\n'
    )
    return subprocess.run(
        [
            str(Path(sys.executable).with_name("schemathesis")),
            "run",
            openapi_url,
            "--checks=all",
            f"--max-examples={max_examples}",
            f"--seed={seed}",
            "--generation-database=none",
            "--workers=1",
            "--request-timeout=5",
            "--no-color",
            *(f"--header={name}: {value}" for name, value in (headers or {}).items()),
            # an alarm code made up by the fuzzer names no alarm: its 404 is the right answer
            *(["--warnings=off"] if quiet_404 else []),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd,
    )
