"""The web console inside a real ``coldwatch run``: it answers on its port beside the
monitoring, over TLS when configured; a port in use stops the start with one clear line; and
SIGTERM with open event streams still stops the daemon within seconds, every reading
committed, no traceback."""

from __future__ import annotations

import hashlib
import re
import shutil
import signal
import socket
import sqlite3
import ssl
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml

from monitor.app.daemon import service_user
from monitor.identity.roles import Role
from tests.support.identity_web import add_users, bearer, signed_in
from tests.support.ports import free_port
from tests.support.web import (
    HTMX_PATH,
    HTMX_SHA256,
    run_schemathesis,
    self_signed,
    start_daemon,
    stop_daemon,
    wait_until_serving,
    web_daemon_config,
)

pytestmark = pytest.mark.timeout(120)

STREAMS = 10


def count(db: Path, sql: str) -> int:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as conn:
        return int(conn.execute(sql).fetchone()[0])


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path, str]]:
    """A running daemon: its URL, its store, and a viewer's API token."""
    folder = tmp_path_factory.mktemp("daemon")
    port = free_port()
    config = web_daemon_config(folder, {"port": port, "max_body_bytes": 2048})
    token = add_users(folder / "cw.db", {"vic": Role.VIEWER})
    proc = start_daemon(config, folder)
    url = f"http://127.0.0.1:{port}/"
    try:
        wait_until_serving(url, proc)
        yield url, folder / "cw.db", token
    finally:
        _, err = stop_daemon(proc)
        assert proc.returncode == 0, err
        assert "Traceback" not in err, err


def test_healthz_says_the_daemon_is_up_and_its_store_takes_writes(
    daemon: tuple[str, Path, str],
) -> None:
    url, db, _ = daemon
    deadline = time.monotonic() + 15
    while count(db, "SELECT count(*) FROM readings") == 0 and time.monotonic() < deadline:
        time.sleep(0.1)
    health = httpx.get(url + "healthz", timeout=5)
    assert health.status_code == 200
    body = health.json()
    assert set(body) == {
        "status",
        "daemon",
        "store_writable",
        "last_commit_at",
        "last_commit_age_seconds",
        "checked_at",
    }
    assert (body["status"], body["daemon"], body["store_writable"]) == ("ok", "up", True)
    assert body["last_commit_at"].endswith("Z") or body["last_commit_at"].endswith("+00:00")
    assert 0 <= body["last_commit_age_seconds"] < 10  # commits at least every second or so


def test_the_daemon_serves_htmx_the_overview_and_refuses_bad_input(
    daemon: tuple[str, Path, str],
) -> None:
    url, _, token = daemon
    with httpx.Client(base_url=url, timeout=10) as client:
        signed_in(client, "vic")
        htmx = client.get(HTMX_PATH)
        assert htmx.status_code == 200
        assert hashlib.sha256(htmx.content).hexdigest() == HTMX_SHA256
        page = client.get("/", headers={"accept": "text/html"})
        assert page.status_code == 200 and "Cell therapy manufacturing" in page.text
        too_big = client.post("/healthz", content=b"x" * 4096)
        assert too_big.status_code == 413
        assert too_big.json()["reason"] == "body_too_large"
        chunked = client.post("/healthz", content=iter([b"x" * 1500, b"y" * 1500]))
        assert chunked.status_code == 413
        for path, status in (
            ("/api/events/heartbeat?interval=abc", 422),
            ("/api/events/heartbeat?interval=0", 422),
            ("/healthz/../../etc/passwd", 404),
            ("/no-such-page", 404),
        ):
            answer = client.get(path, headers=bearer(token))
            assert answer.status_code == status, (path, answer.text)
            assert answer.json()["error"], path
        assert client.delete("/healthz").status_code == 405


def test_schemathesis_finds_no_server_error_and_no_schema_violation(
    daemon: tuple[str, Path, str], tmp_path: Path
) -> None:
    url, _, token = daemon
    result = run_schemathesis(
        url + "api/openapi.json", tmp_path, headers=bearer(token), quiet_404=True
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "No issues found" in result.stdout, result.stdout[-2000:]


def open_stream(port: int, token: str) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    sock.sendall(
        b"GET /api/events/heartbeat?interval=1 HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"Accept: text/event-stream\r\nAuthorization: Bearer " + token.encode() + b"\r\n\r\n"
    )
    return sock


def read_until(sock: socket.socket, marker: bytes, data: bytes = b"") -> bytes:
    while marker not in data:
        chunk = sock.recv(4096)
        if not chunk:
            break
        data += chunk
    return data


def read_to_end(sock: socket.socket) -> bytes:
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data


def test_sigterm_with_ten_open_streams_stops_within_seconds_and_commits_every_reading(
    tmp_path: Path,
) -> None:
    port = free_port()
    config = web_daemon_config(tmp_path, {"port": port})
    db = tmp_path / "cw.db"
    token = add_users(db, {})
    proc = start_daemon(config, tmp_path)
    streams: list[socket.socket] = []
    try:
        wait_until_serving(f"http://127.0.0.1:{port}/", proc)
        streams = [open_stream(port, token) for _ in range(STREAMS)]
        received = [read_until(sock, b"event: heartbeat") for sock in streams]
        assert all(b"200 OK" in r and b"event: heartbeat" in r for r in received)
        # beside them, a browser's idle keep-alive connection and a client stuck mid-body
        idle = socket.create_connection(("127.0.0.1", port), timeout=10)
        idle.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        assert b"200 OK" in read_until(idle, b'"checked_at"')
        stuck = socket.create_connection(("127.0.0.1", port), timeout=10)
        stuck.sendall(
            b"POST /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100\r\n\r\nhalf"
        )
        streams += [idle, stuck]
        deadline = time.monotonic() + 20
        while count(db, "SELECT count(*) FROM readings") < 10 and time.monotonic() < deadline:
            time.sleep(0.1)
        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=15)
        seconds = time.monotonic() - started
        ends = [received[i] + read_to_end(sock) for i, sock in enumerate(streams[:STREAMS])]
        stuck_answer = read_to_end(stuck)
        idle_end = read_to_end(idle)
    finally:
        for sock in streams:
            sock.close()
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err
    assert seconds < 5.0, f"stopped in {seconds:.1f} s"
    assert "Traceback" not in err + out, err
    # every stream ended cleanly: the last chunk of the chunked answer, not a cut connection
    assert all(end.endswith(b"\r\n0\r\n\r\n") for end in ends), [e[-40:] for e in ends]
    assert stuck_answer.startswith(b"HTTP/1.1 503 "), stuck_answer  # not left hanging
    assert b'"the server is stopping; try again in a moment"' in stuck_answer
    assert idle_end == b""  # closed, nothing more said
    committed = re.findall(r"stopped; (\d+) readings committed", err)
    assert len(committed) == 1, err
    stored = count(db, "SELECT count(*) FROM readings")
    assert stored == int(committed[0]) >= 10
    print(f"\n{STREAMS} streams open: SIGTERM to exit {seconds:.2f} s; {stored} readings stored")


def test_a_port_in_use_stops_the_start_with_one_clear_line(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        config = web_daemon_config(tmp_path, {"port": port})
        result = subprocess.run(
            [sys.executable, "-m", "monitor.app.cli", "run", "-c", str(config)],
            capture_output=True,
            text=True,
            timeout=60,
            cwd=tmp_path,
        )
    assert result.returncode == 1, result
    assert result.stderr.strip().splitlines() == [
        f"coldwatch: not started: web console: cannot listen on 127.0.0.1 port {port}: "
        "the port is in use by another program (choose another web.port)"
    ]
    db = tmp_path / "cw.db"
    if db.exists():  # nothing recorded: no start, no configuration load
        assert count(db, "SELECT count(*) FROM events") == 0
    assert (
        not (tmp_path / "cw.db.lock").exists() or "pid" not in (tmp_path / "cw.db.lock").read_text()
    )


def test_https_with_the_configured_certificate(tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path)
    port = free_port()
    config = web_daemon_config(
        tmp_path, {"port": port, "tls": {"cert_file": cert.name, "key_file": key.name}}
    )
    proc = start_daemon(config, tmp_path)
    trust = ssl.create_default_context(cafile=str(cert))
    url = f"https://127.0.0.1:{port}/"
    try:
        wait_until_serving(url, proc, verify=trust)
        response = httpx.get(url + "healthz", verify=trust, timeout=5)
        assert response.status_code == 200 and response.json()["daemon"] == "up"
        assert response.headers["strict-transport-security"] == "max-age=31536000"
        assert response.http_version == "HTTP/1.1"
        with pytest.raises(httpx.HTTPError):  # the certificate is checked: not a public CA's
            httpx.get(url + "healthz", timeout=5)
        with pytest.raises(httpx.HTTPError):  # no plain HTTP on the TLS port
            httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5)
    finally:
        _, err = stop_daemon(proc)
    assert proc.returncode == 0, err
    assert "Traceback" not in err, err
    assert f"web console on https://127.0.0.1:{port}/" in err


def test_coldwatch_restart_serves_the_console_again_on_its_port() -> None:
    """``coldwatch restart`` without a supervisor runs the process again (exec): the console's
    port is free again for it, and an open stream ends cleanly first."""
    folder = Path(tempfile.mkdtemp(prefix="cw-"))  # a control socket path holds 107 bytes
    try:
        port = free_port()
        config = web_daemon_config(folder, {"port": port})
        data = yaml.safe_load(config.read_text())
        data["alarms"] = {"equipment": {"freezer-07": {"bind": {"temperature": "cabinet_temp"}}}}
        for room in data["locations"]:
            room["equipment"] = [e for e in room["equipment"] if e["id"] == "freezer-07"]
        data["notifiers"] = {"outbox": {"type": "outbox", "path": str(folder / "outbox.jsonl")}}
        data["people"] = [
            {"id": "op", "name": "Operator", "channels": ["outbox"], "os_users": [service_user()]}
        ]
        data["acknowledgement"] = {"control_socket": {"enabled": True}}
        config.write_text(yaml.safe_dump(data, sort_keys=False))
        token = add_users(folder / "cw.db", {})
        proc = start_daemon(config, folder)
        url = f"http://127.0.0.1:{port}/"
        try:
            wait_until_serving(url, proc)
            stream = open_stream(port, token)
            first = read_until(stream, b"event: heartbeat")
            restart = subprocess.run(
                [
                    *(sys.executable, "-m", "monitor.app.cli", "restart", "-c", str(config)),
                    *("--reason", "new web settings", "--timeout", "30"),
                ],
                capture_output=True,
                text=True,
                timeout=60,
                cwd=folder,
            )
            assert restart.returncode == 0, restart
            assert (first + read_to_end(stream)).endswith(b"\r\n0\r\n\r\n")
            stream.close()
            wait_until_serving(url, proc)
            assert proc.poll() is None
        finally:
            _, err = stop_daemon(proc)
        assert proc.returncode == 0, err
        assert "Traceback" not in err, err
        assert err.count(f"web console on {url}") == 2, err
    finally:
        shutil.rmtree(folder, ignore_errors=True)
