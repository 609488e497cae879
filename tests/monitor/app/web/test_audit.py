"""The audit trail page and its CSV export (monitor/app/web/audit.py), served over real HTTP
from a real SQLite store holding entries of several kinds: a configuration load with its diff,
a signed acknowledgement (written by the store with its signature row), a real sign-in and a
real failed one (identity's entries as the daemon turns them into audit entries), a stop.
The filters narrow as ``coldwatch audit``'s do, and the export is its CSV byte for byte."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

import tests.support.fakes  # noqa: F401  (registers the in-memory drivers)
from monitor.app.cli import main
from monitor.app.identity_wiring import to_audit_entry
from monitor.app.web.audit import site_time
from monitor.app.web.auth import SESSION_COOKIE
from monitor.core.esign import Signature, manifestation
from monitor.identity.roles import Role
from monitor.store.base import AlarmRecord, AuditEntry
from tests.support.fakes import fake_config
from tests.support.identity_web import PASSWORD, add_user, sign_in, signed_in
from tests.support.web import ThreadedConsole

ZONE = "Europe/Berlin"
T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)  # 13:00 CET
SEQ = re.compile(r'id="seq-(\d+)"')
SIGNATURE = Signature(
    user_id="dreyes",
    printed_name="Dana Reyes",
    meaning="Acknowledged: product checked and safe",
    comment="door was ajar, closed it",
    action="acknowledge",
    signed_at=T0 + timedelta(hours=1),
    credentials="user_id_and_password",
    session_id="0123abcd",
    clock_synchronised=True,
)


def config_load() -> AuditEntry:
    return AuditEntry(
        T0,
        "config.loaded",
        "cli",
        person="alice",
        os_user="al",
        subject="config version 2",
        reason="raise the high limit of freezer-07 (CC-2026-014)",
        old={"version": 1, "sha256": "a" * 64},
        new={"version": 2, "sha256": "b" * 64, "written_sha256": "c" * 64},
        detail={
            "trigger": "reload",
            "changed": True,
            "changes": [{"path": "alarms.rules.fr-high.limit", "old": -70, "new": -65}],
            "changes_total": 1,
            "sources": ["coldwatch.yaml"],
            "attributed": True,
        },
        clock_synchronised=True,
    )


def signed_ack() -> AlarmRecord:
    at = T0 + timedelta(hours=1)
    return AlarmRecord(
        recorded_at=at,
        at=at,
        key="freezer-07.cabinet_temp/high",
        action="acknowledged",
        state="ACKED",
        code="A1007",
        previous="UNACK",
        person="dreyes",
        via="web",
        comment="door was ajar, closed it",
        data={"alarm": {"equipment": "freezer-07"}, "signature": SIGNATURE.to_json()},
    )


def stop() -> AuditEntry:
    return AuditEntry(
        T0 + timedelta(hours=2),
        "daemon.stop",
        "cli",
        person="bob",
        os_user="bob",
        reason="-80 C probe swap",  # a spreadsheet would take it for a formula
        new={"planned": True},
    )


def fill(served: ThreadedConsole) -> None:
    """Users, and five entries: seq 1 to 5."""
    add_user(served.identity.records, "quinn", Role.QA)
    add_user(served.identity.records, "tess", Role.TECHNICIAN)
    add_user(served.identity.records, "ada", Role.ADMIN)
    served.store.append_audit([config_load()])  # seq 1
    served.store.append_alarm_records([signed_ack()])  # seq 2, with its signature row
    served.store.append_audit([stop()])  # seq 3
    with httpx.Client(base_url=served.url, timeout=10) as client:
        assert sign_in(client, "tess", "not the password at all").status_code == 401
        signed_in(client, "tess")
    # as the daemon's audit sink does (identity_wiring.audit_sink): seq 4, 5
    served.store.append_audit([to_audit_entry(e, None) for e in served.identity.audit])


@pytest.fixture(scope="module")
def console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ThreadedConsole]:
    with ThreadedConsole(tmp_path_factory.mktemp("audit"), timezone=ZONE) as served:
        fill(served)
        yield served


@contextmanager
def qa(console: ThreadedConsole) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=console.url, timeout=10) as client:
        signed_in(client, "quinn")
        yield client


def seqs(client: httpx.Client, **params: Any) -> list[int]:
    page = client.get("/audit", params=params)
    assert page.status_code == 200, page.text
    return [int(s) for s in SEQ.findall(page.text)]


def test_the_page_lists_every_kind_newest_first_with_who_what_when_why(
    console: ThreadedConsole,
) -> None:
    with qa(console) as client:
        page = client.get("/audit")
    assert page.status_code == 200
    assert page.headers["cache-control"] == "no-store"
    text = html.unescape(re.sub(r"<[^>]+>", "", page.text))  # what a reader sees
    assert [int(s) for s in SEQ.findall(page.text)] == [5, 4, 3, 2, 1]
    assert "session.sign_in_failed" in text and "session.signed_in" in text
    # when: UTC and the site's zone; who, why, old and new
    assert "2026-03-01 12:00:00 UTC · 2026-03-01 13:00:00 CET" in text
    assert "alice (OS user al) via cli" in text
    assert "raise the high limit of freezer-07 (CC-2026-014)" in text
    assert '{"state": "UNACK"}' in text and '{"state": "ACKED"}' in text
    # the configuration load's diff, compact: one row per setting
    diff = re.search(r"<tbody>\s*<tr><td><code>alarms\.rules\.fr-high\.limit</code></td>"
                     r"<td><del>-70</del></td><td><ins>-65</ins></td></tr>", page.text)  # fmt: skip
    assert diff is not None
    # the signed acknowledgement shows its signature as 11.50 wants it, from the signature row
    shown = manifestation(SIGNATURE, ZoneInfo(ZONE))
    assert shown == (
        "Signed by Dana Reyes on 2026-03-01 13:00:00 UTC (2026-03-01 14:00:00 CET): "
        "Acknowledged: product checked and safe"
    )
    assert shown in text
    assert "A1007 [freezer-07]" in text


def test_each_filter_narrows(console: ThreadedConsole) -> None:
    with qa(console) as client:
        # site-local times: 13:30 CET is 12:30 UTC
        assert seqs(client, since="2026-03-01T13:30") == [5, 4, 3, 2]
        assert seqs(client, until="2026-03-01T14:30") == [2, 1]
        assert seqs(client, since="2026-03-01T13:30", until="2026-03-01T15:00:01") == [3, 2]
        assert seqs(client, since="2026-03-01T12:30:00Z", until="2026-03-01T13:30+00:00") == [2]
        assert seqs(client, person="dreyes") == [2]
        assert seqs(client, person="al") == [1]  # an OS user is a who too
        assert seqs(client, person="tess") == [5, 4]  # the typed user id, then the session
        assert seqs(client, equipment="freezer-07") == [2]
        assert seqs(client, action="session.") == [5, 4]
        assert seqs(client, action="session.sign_in_failed") == [4]
        assert seqs(client, action="session.signed_in", person="tess") == [5]
        assert seqs(client, action="config.loaded", person="dreyes") == []
        assert seqs(client, person="  ", equipment="") == [5, 4, 3, 2, 1]  # blank: no filter
        page = client.get("/audit", params={"person": "nobody"})
        assert "No audit entries match." in page.text


def cli_csv(capsys: pytest.CaptureFixture[str], config: str, *args: str) -> bytes:
    capsys.readouterr()
    assert main(["audit", "-c", config, "--csv", *args]) == 0
    return capsys.readouterr().out.encode("utf-8")


@pytest.mark.parametrize(
    ("web", "cli"),
    [
        ({}, []),
        ({"since": "2026-03-01T13:30"}, ["--since", "2026-03-01T12:30:00Z"]),
        ({"until": "2026-03-01T15:00:01"}, ["--until", "2026-03-01T14:00:01Z"]),
        ({"person": "bob"}, ["--person", "bob"]),
        ({"action": "alarm."}, ["--action", "alarm."]),
        ({"equipment": "freezer-07"}, ["--equipment", "freezer-07"]),
    ],
)
def test_the_csv_is_the_cli_csv_byte_for_byte(
    console: ThreadedConsole,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    web: dict[str, str],
    cli: list[str],
) -> None:
    fake_config(
        tmp_path,
        [{"id": "dev", "driver": "fake"}],
        [{"id": "t", "quantity": "temperature", "unit": "C", "source": {"device": "dev"}}],
        store={"path": str(console.store_file)},
    )
    with qa(console) as client:
        answer = client.get("/audit.csv", params=web)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "text/csv; charset=utf-8"
    disposition = answer.headers["content-disposition"]
    assert re.fullmatch(r'attachment; filename="coldwatch-audit-test-site-\d{8}T\d{6}Z\.csv"',
                        disposition), disposition  # fmt: skip
    expected = cli_csv(capsys, str(tmp_path / "config.yaml"), *cli)
    assert answer.content == expected
    assert expected.count(b"\r\n") >= 1  # at least the header
    if not web:
        assert b"'-80 C probe swap" in answer.content  # a formula is shown, never run


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"since": "yesterday"}, "is not a date and time"),
        ({"since": "2026-03-01T15:00", "until": "2026-03-01T14:00"}, "the time range is empty"),
        ({"since": "2026-03-29T02:30"}, "does not exist in Europe/Berlin"),  # clocks forward
        ({"until": "0001-01-01T00:00"}, "out of range"),
        ({"person": "a\x01b"}, "no control characters"),
    ],
)
def test_a_bad_filter_is_a_422_with_its_reason(
    console: ThreadedConsole, params: dict[str, str], message: str
) -> None:
    with qa(console) as client:
        page = client.get("/audit", params=params)
        assert page.status_code == 422
        assert message in html.unescape(page.text)
        assert not SEQ.findall(page.text)
        export = client.get("/audit.csv", params=params)
        assert export.status_code == 422
        assert message in export.json()["error"]


@pytest.mark.parametrize(
    "params",
    [{"size": "0"}, {"size": "201"}, {"size": "x"}, {"before": "0"}, {"before": "-3"},
     {"person": "p" * 201}, {"since": "2" * 41}],
)  # fmt: skip
def test_out_of_bounds_parameters_are_refused_never_a_5xx(
    console: ThreadedConsole, params: dict[str, str]
) -> None:
    with qa(console) as client:
        answer = client.get("/audit", params=params)
    assert answer.status_code == 422, answer.text
    assert answer.json()["reason"] == "invalid_request"


def test_pages_are_bounded_and_stable_while_entries_are_added(tmp_path: Path) -> None:
    def next_link(page: httpx.Response) -> str | None:
        found = re.findall(r'href="(/audit\?[^"]+)" rel="next"', page.text)
        return html.unescape(found[0]) if found else None

    with ThreadedConsole(tmp_path, timezone=ZONE) as served:
        fill(served)
        with qa(served) as client:
            first = client.get("/audit", params={"size": "2"})
            assert [int(s) for s in SEQ.findall(first.text)] == [5, 4]
            link = next_link(first)
            assert link is not None and "before=4" in link and "size=2" in link
            served.store.append_audit(  # a new entry does not shift the next page
                [AuditEntry(T0 + timedelta(hours=3), "daemon.restart", "cli", person="bob")]
            )
            second = client.get(link)
            assert [int(s) for s in SEQ.findall(second.text)] == [3, 2]
            assert "Newest entries" in second.text
            link = next_link(second)
            assert link is not None
            third = client.get(link)
            assert [int(s) for s in SEQ.findall(third.text)] == [1]
            assert next_link(third) is None
            assert seqs(client, size="2") == [6, 5]  # the new one, at the top
            filtered = next_link(client.get("/audit", params={"size": "1", "person": "bob"}))
            assert filtered is not None and "person=bob" in filtered and "before=6" in filtered
            assert seqs(client, size="1", person="bob", before="6") == [3]


def test_only_qa_reads_it_and_only_qa_sees_the_link(console: ThreadedConsole) -> None:
    for user in ("tess", "ada"):
        with httpx.Client(base_url=console.url, timeout=10) as client:
            signed_in(client, user)
            assert client.get("/audit").status_code == 403
            assert client.get("/audit.csv").status_code == 403
            assert 'href="/audit"' not in client.get("/").text
    with httpx.Client(base_url=console.url, timeout=10) as anonymous:
        for path in ("/audit", "/audit.csv"):
            answer = anonymous.get(path + "?person=bob", headers={"accept": "text/html"})
            assert answer.status_code == 303
            assert answer.headers["location"] == "/signin?next=" + path + "%3Fperson%3Dbob"
    with qa(console) as client:
        assert 'href="/audit">Audit trail</a>' in client.get("/").text


def test_nothing_secret_on_the_page_or_in_the_export(console: ThreadedConsole) -> None:
    with qa(console) as client:
        page = client.get("/audit").text
        export = client.get("/audit.csv").text
        cookie = client.cookies[SESSION_COOKIE]
    for text in (page, export):
        assert PASSWORD not in text and "not the password at all" not in text
        assert "$argon2" not in text and cookie not in text
        assert "session_id" not in text and "0123abcd" not in text  # signatures' session id


def test_an_entry_that_says_signed_without_a_signature_row_says_so(tmp_path: Path) -> None:
    with ThreadedConsole(tmp_path, timezone=ZONE) as served:
        add_user(served.identity.records, "quinn", Role.QA)
        served.store.append_audit(
            [
                AuditEntry(
                    T0,
                    "alarm.acknowledged",
                    "web",
                    person="dreyes",
                    detail={"alarm_history_seq": 99, "signature": {"meaning": "x"}},
                )
            ]
        )
        with qa(served) as client:
            page = html.unescape(client.get("/audit").text)
    assert "signed, but no signature row names this record: run coldwatch verify" in page


def test_site_times_across_the_clock_changes() -> None:
    berlin = ZoneInfo(ZONE)
    # 2026-10-25 02:30 happens twice in Berlin: the range widens to hold both
    assert site_time("2026-10-25T02:30", berlin, "from", end=False) == datetime(
        2026, 10, 25, 0, 30, tzinfo=UTC
    )
    assert site_time("2026-10-25T02:30", berlin, "until", end=True) == datetime(
        2026, 10, 25, 1, 30, tzinfo=UTC
    )
    assert site_time("2026-07-01T12:00", berlin, "from", end=False) == datetime(
        2026, 7, 1, 10, 0, tzinfo=UTC
    )
    assert site_time("2026-07-01T12:00-04:00", berlin, "from", end=False) == datetime(
        2026, 7, 1, 16, 0, tzinfo=UTC
    )
