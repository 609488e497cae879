"""Identity inside a real ``coldwatch run``: five failed sign-ins lock the account, raise the
``account_locked`` alarm (read back through the alarm API) and land in the audit trail (read
back by QA on the audit page), which ``coldwatch verify`` still finds intact; no password or
token reaches the daemon's log."""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from monitor.app.daemon import service_user
from monitor.identity.roles import Role
from tests.support.identity_web import PASSWORD, add_users, bearer, sign_in, signed_in
from tests.support.ports import free_port
from tests.support.web import start_daemon, stop_daemon, wait_until_serving, web_daemon_config

pytestmark = pytest.mark.timeout(120)

WRONG = "wrong-password-do-not-log"


def alarm_config(folder: Path, port: int) -> Path:
    config = web_daemon_config(folder, {"port": port})
    data = yaml.safe_load(config.read_text())
    data["alarms"] = {"equipment": {"freezer-07": {"bind": {"temperature": "cabinet_temp"}}}}
    for room in data["locations"]:
        room["equipment"] = [e for e in room["equipment"] if e["id"] == "freezer-07"]
    data["notifiers"] = {"outbox": {"type": "outbox", "path": str(folder / "outbox.jsonl")}}
    data["people"] = [
        {"id": "op", "name": "Operator", "channels": ["outbox"], "os_users": [service_user()]}
    ]
    config.write_text(yaml.safe_dump(data, sort_keys=False))
    return config


def audit_rows(db: Path) -> list[dict[str, Any]]:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as conn:
        conn.row_factory = sqlite3.Row
        rows = conn.execute(
            "SELECT action, method, user_id, subject, reason, new_value, detail FROM audit_log "
            "WHERE action LIKE 'session.%' OR action LIKE 'user.%' ORDER BY seq"
        ).fetchall()
    return [dict(r) for r in rows]


def test_five_failed_sign_ins_lock_raise_the_alarm_and_are_in_the_audit_trail() -> None:
    folder = Path(tempfile.mkdtemp(prefix="cw-"))
    try:
        port = free_port()
        config = alarm_config(folder, port)
        db = folder / "cw.db"
        token = add_users(db, {"tess": Role.TECHNICIAN, "vic": Role.VIEWER, "quinn": Role.QA})
        proc = start_daemon(config, folder)
        url = f"http://127.0.0.1:{port}/"
        try:
            wait_until_serving(url, proc)
            with httpx.Client(base_url=url, timeout=10) as client:
                signed_in(client, "vic")  # a sign-in that works, for the trail
                out = client.post("/signout", headers={"X-CSRF-Token": "x"})
                assert out.status_code == 403  # a wrong CSRF token: still signed in
            with httpx.Client(base_url=url, timeout=10) as client:
                for _ in range(5):
                    assert sign_in(client, "tess", WRONG).status_code == 401
                locked = sign_in(client, "tess", PASSWORD)  # the right password, too late
                assert locked.status_code == 401 and "locked" in locked.text
            api = httpx.Client(base_url=url, timeout=10, headers=bearer(token))
            deadline = time.monotonic() + 20
            alarm = None
            while alarm is None and time.monotonic() < deadline:
                alarms = api.get("/api/alarms").json()["alarms"]
                alarm = next((a for a in alarms if "account_locked" in a["key"]), None)
                time.sleep(0.2)
            assert alarm is not None, "no account_locked alarm"
            assert "tess" in alarm["message"] or "tess" in json.dumps(alarm)
            one = api.get(f"/api/alarms/{alarm['code']}")
            assert one.status_code == 200 and one.json()["alarm"]["key"] == alarm["key"]
            history = api.get(f"/api/alarms/{alarm['code']}/history")
            assert history.status_code == 200 and history.json()["records"]
            assert api.get("/api/alarms/A9999").status_code == 404
            assert httpx.get(url + "api/alarms", timeout=10).status_code == 401
            api.close()
            with httpx.Client(base_url=url, timeout=10) as qa:  # QA reviews it on the page
                signed_in(qa, "quinn")
                wanted = {"person": "tess", "action": "session.sign_in_failed"}
                page = qa.get("/audit", params=wanted)
                assert page.status_code == 200 and page.text.count('id="seq-') == 5
                export = qa.get("/audit.csv", params={"person": "tess"})
                assert export.status_code == 200 and "session.account_locked" in export.text
                assert WRONG not in page.text + export.text
        finally:
            out_text, err = stop_daemon(proc)
        assert proc.returncode == 0, err
        assert "Traceback" not in err, err
        for secret in (WRONG, PASSWORD, token):
            assert secret not in err + out_text, "a secret in the daemon's log"
        rows = audit_rows(db)
        actions = [(r["action"], r["user_id"]) for r in rows]
        assert ("session.signed_in", "vic") in actions
        assert actions.count(("session.sign_in_failed", "tess")) == 5
        assert ("session.account_locked", "tess") in actions
        assert ("session.sign_in_refused", "tess") in actions
        failed = next(r for r in rows if r["action"] == "session.sign_in_failed")
        assert failed["method"] == "web" and json.loads(failed["detail"])["source"].startswith(
            "web 127.0.0.1"
        )
        assert all(WRONG not in json.dumps(r) and PASSWORD not in json.dumps(r) for r in rows)
        verify = subprocess.run(
            [sys.executable, "-m", "monitor.app.cli", "verify", "-c", str(config)],
            capture_output=True,
            text=True,
            timeout=60,
            cwd=folder,
        )
        assert verify.returncode == 0, verify.stdout + verify.stderr
    finally:
        shutil.rmtree(folder, ignore_errors=True)
