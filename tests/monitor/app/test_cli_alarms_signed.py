"""`coldwatch alarms show|history` print a signed record's manifestation (21 CFR 11.50): the
signer's printed name, the date and time in UTC and in the site's zone, and the meaning; the
daemon side is the real engine behind a real control socket."""

from __future__ import annotations

import asyncio
import os
import pwd
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from alarms.ack.control_socket import ControlServer
from monitor.app.cli import main
from monitor.core.esign import Signature
from tests.alarms.conftest import engine_factory  # noqa: F401
from tests.support.ack import Stack, stack_fixture  # noqa: F401
from tests.support.alarm_engine import KEY, cfg, config_data

ME = pwd.getpwuid(os.getuid()).pw_name


@pytest.fixture
def short_dir() -> Iterator[Path]:
    """Unix socket paths are limited to 107 bytes; pytest's tmp_path can be longer."""
    path = Path(tempfile.mkdtemp(prefix="cw-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


async def test_show_and_history_print_the_manifestation_of_a_signed_acknowledgement(
    stack: Stack, short_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = config_data(**cfg())
    data["site"]["timezone"] = "Europe/Berlin"
    data["store"] = {"path": str(short_dir / "cw.db")}
    config = short_dir / "coldwatch.yaml"
    config.write_text(yaml.safe_dump(data, sort_keys=False))
    server = ControlServer(stack.service, short_dir / "control.sock", {ME: "alice"})
    await server.start()
    try:
        code = stack.code
        signature = Signature(
            user_id="dreyes",
            printed_name="Dana Reyes",
            meaning="Acknowledged: product checked and safe",
            comment="door was ajar, closed it",
            action="acknowledge",
            signed_at=stack.harness.clock.now(),  # 2026-03-01 12:00 UTC: 13:00 in Berlin
            credentials="user_id_and_password",
        )
        stack.harness.engine.signed(KEY, "dana", signature)
        manifest = (
            "Signed by Dana Reyes on 2026-03-01 12:00:00 UTC (2026-03-01 13:00:00 CET): "
            "Acknowledged: product checked and safe"
        )
        assert await asyncio.to_thread(main, ["alarms", "show", code, "-c", str(config)]) == 0
        shown = capsys.readouterr().out.splitlines()
        assert f"  acknowledged (e-signed): {manifest}" in shown
        assert "    comment: door was ajar, closed it" in shown
        assert await asyncio.to_thread(main, ["alarms", "history", code, "-c", str(config)]) == 0
        history = capsys.readouterr().out.splitlines()
        signed_at = next(i for i, line in enumerate(history) if " acknowledged " in line)
        assert history[signed_at + 1] == f"    {manifest}"
        assert sum("Signed by" in line for line in history) == 1  # the raise is not signed
    finally:
        await server.stop()
