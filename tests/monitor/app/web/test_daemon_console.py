"""The alarm console inside a real ``coldwatch run``: the daemon hands the console its signing
service and engine; a supervisor finds an alarm on /alarms (``account_locked``, or the unserved
device's), acknowledges it with an e-signature (user id and password, the first signing of the
session), sees the signed entry on the alarm's page, and ``coldwatch verify`` finds the
signature bound to its record."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import pytest

from monitor.identity.roles import Role
from tests.monitor.app.web.test_daemon_identity import alarm_config
from tests.support.identity_web import PASSWORD, add_users, sign_in, signed_in
from tests.support.ports import free_port
from tests.support.web import start_daemon, stop_daemon, wait_until_serving

pytestmark = pytest.mark.timeout(120)

SAFE = "Acknowledged: I have read the alarm and act on it"
CODE = re.compile(r'href="/alarms/(A\d+)"><strong>')


def test_a_signed_acknowledgement_through_the_daemon_console() -> None:
    folder = Path(tempfile.mkdtemp(prefix="cw-"))
    try:
        port = free_port()
        config = alarm_config(folder, port)
        add_users(folder / "cw.db", {"tess": Role.TECHNICIAN, "sue": Role.SUPERVISOR})
        proc = start_daemon(config, folder)
        url = f"http://127.0.0.1:{port}/"
        try:
            wait_until_serving(url, proc)
            with httpx.Client(base_url=url, timeout=10) as client:
                for _ in range(5):  # lock tess: the account_locked alarm
                    assert sign_in(client, "tess", "not her password").status_code == 401
            with httpx.Client(base_url=url, timeout=10) as client:
                csrf = signed_in(client, "sue")
                code = None
                deadline = time.monotonic() + 20
                while code is None and time.monotonic() < deadline:
                    listing = client.get("/alarms")
                    assert listing.status_code == 200
                    found = CODE.search(listing.text)
                    code = found.group(1) if found else None
                    time.sleep(0.2)
                assert code is not None, "no alarm on the console"
                assert "not acknowledged" in listing.text
                signed = client.post(
                    f"/alarms/{code}/acknowledge",
                    data={"meaning": SAFE, "comment": "tess was told", "password": PASSWORD,
                          "user_id": "sue", "csrf_token": csrf},
                )  # fmt: skip
                assert signed.status_code == 303, signed.text
                page = client.get(signed.headers["location"])
                assert "Signed by Sue Tester on " in page.text and SAFE in page.text
                assert "active, acknowledged" in page.text or "normal" in page.text
        finally:
            _, err = stop_daemon(proc)
        assert proc.returncode == 0, err
        assert "Traceback" not in err, err
        assert PASSWORD not in err
        verify = subprocess.run(
            [sys.executable, "-m", "monitor.app.cli", "verify", "-c", str(config)],
            capture_output=True, text=True, timeout=60, cwd=folder,
        )  # fmt: skip
        assert verify.returncode == 0, verify.stdout + verify.stderr
        assert "electronic signatures: 1 bound" in verify.stdout
    finally:
        shutil.rmtree(folder, ignore_errors=True)
