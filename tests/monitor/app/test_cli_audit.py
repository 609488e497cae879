"""``coldwatch audit`` (monitor/app/cli_audit.py) in process, on a real store: the filters, the
CSV export (a header, JSON values, no formula a spreadsheet would run), the limit, bad input."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

import tests.support.fakes  # noqa: F401  (registers the in-memory drivers)
from monitor.app.cli import main
from monitor.store.base import AuditEntry
from monitor.store.sqlite import SQLiteStore
from tests.support.fakes import fake_config

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def config(tmp_path: Path) -> str:
    fake_config(
        tmp_path,
        [{"id": "dev", "driver": "fake"}],
        [{"id": "t", "quantity": "temperature", "unit": "C", "source": {"device": "dev"}}],
    )
    with SQLiteStore(tmp_path / "cw.db") as store:
        store.append_audit(
            [
                AuditEntry(T0, "config.loaded", "system", subject="config version 1"),
                AuditEntry(
                    T0 + timedelta(hours=1),
                    "alarm.acknowledged",
                    "sms",
                    person="bob",
                    subject="A1007",
                    equipment="fr",
                    reason='=HYPERLINK("http://evil.example","ok")',
                    old={"state": "UNACK"},
                    new={"state": "ACKED"},
                    clock_synchronised=True,
                ),
                AuditEntry(
                    T0 + timedelta(hours=2),
                    "daemon.stop",
                    "cli",
                    person="alice",
                    os_user="al",
                    reason="-80 C probe swap",
                ),
            ]
        )
    return str(tmp_path / "config.yaml")


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    rc = main(["audit", *args])
    out, err = capsys.readouterr()
    return rc, out, err


def test_csv_has_a_header_json_values_and_no_formula(
    config: str, capsys: pytest.CaptureFixture[str]
) -> None:
    rc, out, _ = run(capsys, "-c", config, "--csv")
    assert rc == 0
    table = list(csv.DictReader(io.StringIO(out)))
    assert [r["action"] for r in table] == ["config.loaded", "alarm.acknowledged", "daemon.stop"]
    ack = table[1]
    assert ack["reason"] == '\'=HYPERLINK("http://evil.example","ok")'  # shown, never run
    assert json.loads(ack["old"]) == {"state": "UNACK"}
    assert (ack["at"], ack["clock_synchronised"], ack["method"]) == (
        "2026-03-01T13:00:00+00:00",
        "yes",
        "sms",
    )
    assert table[2]["reason"] == "'-80 C probe swap" and table[0]["clock_synchronised"] == ""


def test_filters(config: str, capsys: pytest.CaptureFixture[str]) -> None:
    def seqs(*args: str) -> list[str]:
        rc, out, _ = run(capsys, "-c", config, "--csv", *args)
        assert rc == 0
        return [r["seq"] for r in csv.DictReader(io.StringIO(out))]

    assert seqs("--since", "2026-03-01T13:00:00Z") == ["2", "3"]
    assert seqs("--until", "2026-03-01T13:00:00") == ["1"]  # no zone: UTC
    assert seqs("--person", "al") == ["3"]  # an OS user is a who too
    assert seqs("--equipment", "fr") == ["2"]
    assert seqs("--action", "alarm.") == ["2"]
    assert seqs("--action", "daemon.stop", "--person", "alice") == ["3"]


def test_text_and_the_limit(config: str, capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, err = run(capsys, "-c", config, "--limit", "2")
    assert rc == 0
    assert out.splitlines()[1:] == [
        "#2 2026-03-01T13:00:00+00:00 alarm.acknowledged A1007 [fr] by bob via sms: "
        '=HYPERLINK("http://evil.example","ok")',
        '    {"state": "UNACK"} -> {"state": "ACKED"}',
    ]
    assert "only the first 2 entries" in err and "#3" not in out


@pytest.mark.parametrize(
    "args",
    [
        ["--since", "yesterday"],
        ["--limit", "0"],
        ["--since", "2026-03-01T13:00Z", "--until", "2026-03-01T12:00Z"],  # an empty range
        ["--person", "a\x01b"],
    ],
)
def test_bad_input_exits_2(
    config: str, capsys: pytest.CaptureFixture[str], args: list[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["audit", "-c", config, *args])
    assert exited.value.code == 2
