"""Hostile configuration files: every one exits 2 with file, line and a clear message, never a
traceback, a hang or a read without end (aliases, nesting, FIFOs, /dev/zero, odd encodings,
non-finite durations, merge keys, a folder as the store file)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from monitor.app.config import ConfigError, load
from monitor.config.yaml_source import MAX_DEPTH
from monitor.core.durations import MAX_SECONDS, parse_duration
from monitor.core.secrets import resolve_secret

SITE = "site: {id: t, name: T}\n"
DEVICE = (
    "devices:\n"
    "  - {{id: d, driver: modbus, {extra}settings: {{transport: tcp, host: 127.0.0.1}}}}\n"
)


def _issues(path: Path) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load(path)
    return [str(issue) for issue in caught.value.issues]


def _write(tmp_path: Path, text: str | bytes, name: str = "c.yaml") -> Path:
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)
    return path


def test_billion_laughs_is_refused_at_its_line(tmp_path: Path) -> None:
    lines = [SITE.strip(), "a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, 10)]
    path = _write(tmp_path, "\n".join(lines) + "\n")
    (issue,) = _issues(path)
    assert issue.startswith(f"{path}:")
    assert "expands to more than 200,000 values (YAML aliases?)" in issue


def test_a_few_aliases_still_work(tmp_path: Path) -> None:
    text = "site: &s {id: t, name: T}\nlocations: []\n"
    assert load(_write(tmp_path, text)).config.site.id == "t"


@pytest.mark.parametrize(("style", "line"), [("flow", 2), ("block", MAX_DEPTH + 2)])
def test_deep_nesting_is_refused_with_its_line(tmp_path: Path, style: str, line: int) -> None:
    depth = 5000 if style == "flow" else 200
    if style == "flow":
        body = "x: " + "[" * depth + "]" * depth + "\n"
    else:
        body = "x:\n" + "".join("  " * i + "-\n" for i in range(1, depth))
    path = _write(tmp_path, SITE + body)
    (issue,) = _issues(path)
    assert issue == f"{path}:{line}: nested more than {MAX_DEPTH} levels deep"


def test_merge_key_is_refused(tmp_path: Path) -> None:
    path = _write(tmp_path, "base: &b {id: t, name: T}\nsite:\n  <<: *b\n")
    assert _issues(path) == [
        f"{path}:3: site: YAML merge keys ('<<') are not supported: write the keys out"
    ]


def test_non_utf8_file_is_refused_with_its_line(tmp_path: Path) -> None:
    path = _write(tmp_path, b'site: {id: t,\n  name: "M\xfcnchen"}\n')
    assert _issues(path) == [f"{path}:2: not UTF-8 text"]


def test_unsafe_tag_is_refused(tmp_path: Path) -> None:
    path = _write(tmp_path, "site: {id: t, name: !!python/object:os.system x}\n")
    (issue,) = _issues(path)
    assert issue.startswith(
        f"{path}:1: site.name: invalid value: could not determine a constructor"
    )


@pytest.mark.parametrize(
    ("value", "message"),
    [("2024-13-01", "month must be in 1..12"), ("1" * 5000, "Exceeds the limit")],
    ids=["bad-date", "huge-integer"],
)
def test_a_value_the_yaml_loader_cannot_make_is_an_issue(
    tmp_path: Path, value: str, message: str
) -> None:
    path = _write(tmp_path, f"site: {{id: t, name: T}}\nnote: {value}\n")
    (issue,) = _issues(path)
    assert issue.startswith(f"{path}:2: note: invalid value: ")
    assert message in issue


def test_include_of_a_fifo_is_refused_without_blocking(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "fifo.yaml")
    path = _write(tmp_path, SITE + "include: fifo.yaml\n")
    assert _issues(path) == [f"{tmp_path / 'fifo.yaml'}: not a regular file"]


def test_include_of_dev_zero_is_refused(tmp_path: Path) -> None:
    path = _write(tmp_path, SITE + "include: /dev/zero\n")
    assert _issues(path) == ["/dev/zero: not a regular file"]


def test_an_oversized_include_is_refused(tmp_path: Path) -> None:
    _write(tmp_path, "# " + "x" * (1024 * 1024) + "\n", "big.yaml")
    path = _write(tmp_path, SITE + "include: big.yaml\n")
    assert _issues(path) == [f"{tmp_path / 'big.yaml'}: larger than 1024 KiB"]


def test_includes_nest_boundedly(tmp_path: Path) -> None:
    for i in range(20):
        _write(tmp_path, f"include: n{i + 1}.yaml\n", f"n{i}.yaml")
    _write(tmp_path, SITE, "n20.yaml")
    (issue,) = _issues(tmp_path / "n0.yaml")
    assert "includes nest more than 8 deep" in issue


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ("interval: .inf, ", "devices[0].interval: device 'd': inf is not a finite duration"),
        ("timeout: .nan, ", "devices[0].timeout: device 'd': nan is not a finite duration"),
        ("interval: 400d, ", "devices[0].interval: device 'd': '400d' is longer than a year"),
    ],
)
def test_durations_are_finite_and_bounded(tmp_path: Path, extra: str, message: str) -> None:
    path = _write(tmp_path, SITE + DEVICE.format(extra=extra))
    issues = _issues(path)
    assert any(i.startswith(f"{path}:3: {message}") for i in issues), issues


def test_parse_duration_limits() -> None:
    assert parse_duration("366d") == MAX_SECONDS
    for bad in (float("inf"), float("-inf"), float("nan"), MAX_SECONDS + 1):
        with pytest.raises(ValueError):
            parse_duration(bad)


def test_non_finite_range_is_refused(tmp_path: Path) -> None:
    text = (
        SITE
        + DEVICE.format(extra="")
        + "locations:\n  - id: r\n    equipment:\n      - id: f\n        kind: ult_freezer\n"
        "        channels:\n          - {id: t, quantity: temperature, unit: C,\n"
        "             range: {min: -100, max: .inf},\n"
        "             source: {device: d, register: holding, address: 1, type: int16}}\n"
    )
    path = _write(tmp_path, text)
    issues = _issues(path)
    assert any("range.max" in i and "finite" in i for i in issues), issues


def test_store_path_naming_a_folder_is_refused(tmp_path: Path) -> None:
    (tmp_path / "records").mkdir()
    path = _write(tmp_path, SITE + "store: {path: records}\n")
    assert _issues(path) == [
        f"{path}:2: store.path: '{tmp_path / 'records'}' is not a file (a folder?)"
    ]


@pytest.mark.parametrize("source", ["/dev/zero", "fifo", "big", "latin"])
def test_secret_files_must_be_small_regular_text(tmp_path: Path, source: str) -> None:
    if source == "fifo":
        os.mkfifo(tmp_path / "fifo")
        name, expected = str(tmp_path / "fifo"), "is not a regular file"
    elif source == "big":
        (tmp_path / "big").write_text("x" * (64 * 1024 + 1))
        name, expected = str(tmp_path / "big"), "is larger than 64 KiB"
    elif source == "latin":
        (tmp_path / "latin").write_bytes(b"p\xe4ss")
        name, expected = str(tmp_path / "latin"), "is not UTF-8 text"
    else:
        name, expected = source, "is not a regular file"
    with pytest.raises(ValueError, match=expected):
        resolve_secret("password", None, None, name)


def test_check_config_exits_2_without_a_traceback(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "fifo.yaml")
    path = _write(tmp_path, SITE + "include: fifo.yaml\n")
    done = subprocess.run(
        [sys.executable, "-m", "monitor.app.cli", "check-config", "-c", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "not a regular file" in done.stderr + done.stdout
    assert "Traceback" not in done.stderr


# --- fuzz: any text the loader is given ends in a result or a ConfigError, quickly -----------

_TOKENS = st.sampled_from(
    [
        "site:",
        " {id: t, name: T}",
        "\n",
        "  ",
        "- ",
        "[",
        "]",
        "{",
        "}",
        ",",
        ": ",
        "&a ",
        "*a",
        "<<: ",
        "!!python/object:os.system ",
        "!!binary ",
        "!!set ",
        "? ",
        "|\n",
        ">\n",
        "'",
        '"',
        "#",
        "devices:",
        "locations:",
        "include: ",
        "/dev/zero",
        ".inf",
        ".nan",
        "1e309",
        "-0",
        "0x1F",
        "~",
        "null",
        "true",
        "interval: ",
        "\t",
        "%YAML 1.1\n",
        "---\n",
        "...\n",
        "\u00e9",
        "\ufeff",
        "\x00",
        "\x85",
        "\ud7ff",
    ]
)


@settings(
    max_examples=300,
    deadline=5000,  # the per-case bound: a hang or runaway expansion fails the case
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(st.lists(_TOKENS, max_size=60).map("".join))
def test_fuzzed_documents_end_in_a_result_or_a_config_error(tmp_path: Path, text: str) -> None:
    path = tmp_path / "fuzz.yaml"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    try:
        load(path)
    except ConfigError as exc:
        assert exc.issues
        assert all(str(issue).startswith(str(path)) or issue.file for issue in exc.issues)
