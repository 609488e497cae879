"""The outbox: one JSON line per notification in a file, and a readable line on stderr."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from alarms.notify.base import NotifyError
from alarms.notify.outbox import OutboxNotifier, OutboxSettings
from alarms.notify.sms import compose_sms
from tests.support.notify import notification, person


async def test_a_line_per_notification(tmp_path: Path) -> None:
    path = tmp_path / "outbox.jsonl"
    stderr = io.StringIO()
    outbox = OutboxNotifier("outbox", OutboxSettings(path=path), stream=stderr)
    first, second = notification(), notification(kind="acknowledged", acknowledged_by="Bob")
    r1 = await outbox.send(first, person())
    r2 = await outbox.send(second, person("bob"))
    run = outbox._run
    assert (r1.provider_id, r2.provider_id) == (f"outbox:outbox:{run}-1", f"outbox:outbox:{run}-2")
    restarted = OutboxNotifier("outbox", OutboxSettings(path=path), stream=stderr)
    assert restarted._run != run  # a new process never reuses an id
    lines = path.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 2
    line = json.loads(lines[0])
    assert line["provider_id"] == r1.provider_id
    assert line["to"] == {"id": "alice", "name": "Alice Meyer"}
    assert line["text"] == compose_sms(first)
    assert line["notification"]["alarm_id"] == "A1007"
    assert line["notification"]["unit"] == "°C"  # the file keeps Unicode; only SMS is GSM-7
    assert json.loads(lines[1])["notification"]["kind"] == "acknowledged"
    assert stderr.getvalue().splitlines() == [
        f"[coldwatch page to Alice Meyer] {compose_sms(first)}",
        f"[coldwatch page to Bob Meyer] {compose_sms(second)}",
    ]


async def test_stderr_only(capsys: pytest.CaptureFixture[str]) -> None:
    outbox = OutboxNotifier("demo", OutboxSettings())
    await outbox.send(notification(), person())
    assert "A1007 CRITICAL ALARM" in capsys.readouterr().err


async def test_an_unwritable_file_is_retryable(tmp_path: Path) -> None:
    outbox = OutboxNotifier(
        "outbox", OutboxSettings(path=tmp_path / "missing" / "o.jsonl", stderr=False)
    )
    with pytest.raises(NotifyError) as info:
        await outbox.send(notification(), person())
    assert info.value.retryable
