"""The ``web:`` section: safe defaults, refused where unsafe or malformed, TLS files checked
at load with their file and line; ``check-config`` exits 2 on a bad one."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from monitor.app.config import ConfigError, load
from monitor.app.web.config import DEFAULT_MAX_BODY, DEFAULT_PORT, WEB_OFF, WebConfig
from monitor.core.secrets import secrets_deferred
from tests.support.paths import REPO
from tests.support.web import self_signed


def config_with(tmp_path: Path, web: Any) -> Path:
    data = yaml.safe_load((REPO / "config" / "example.yaml").read_text())
    data["store"]["path"] = str(tmp_path / "cw.db")
    data.pop("web", None)
    if web is not None:
        data["web"] = web
    path = tmp_path / "coldwatch.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def issues(path: Path) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load(path)
    return [str(issue) for issue in caught.value.issues]


def test_no_section_no_console_and_a_bare_section_serves_on_loopback(tmp_path: Path) -> None:
    assert load(config_with(tmp_path, None)).config.web == WEB_OFF
    assert not WEB_OFF.enabled
    web = load(config_with(tmp_path, {})).config.web
    assert web.enabled
    assert (web.bind, web.port, web.tls, web.max_body_bytes) == (
        "127.0.0.1",
        DEFAULT_PORT,
        None,
        DEFAULT_MAX_BODY,
    )
    assert web.local_url() == f"http://127.0.0.1:{DEFAULT_PORT}/"


def test_the_example_configuration_has_the_console_off() -> None:
    web = load(REPO / "config" / "example.yaml").config.web
    assert not web.enabled
    assert (web.bind, web.port) == ("127.0.0.1", DEFAULT_PORT)


@pytest.mark.parametrize(
    ("web", "path", "message"),
    [
        ({"bind": "0.0.0.0"}, "web", "needs tls"),
        ({"bind": "::"}, "web", "needs tls"),
        ({"bind": "example.org"}, "web.bind", "is not an IP address"),
        ({"port": 0}, "web.port", "it must be at least 1"),
        ({"port": 70000}, "web.port", "it must be at most 65535"),
        ({"public_url": "ftp://x.org/"}, "web.public_url", "not an http:// or https://"),
        ({"public_url": "https://x.org/?a=1"}, "web.public_url", "must not carry a query"),
        ({"max_body_bytes": 10}, "web.max_body_bytes", "it must be at least 1024"),
        ({"max_body_bytes": 1 << 30}, "web.max_body_bytes", "it must be at most"),
        ({"tls": {"cert_file": "c.pem"}}, "web.tls.key_file", "required"),
        ({"sessions": {}}, "web.sessions", "unknown key 'sessions'"),
    ],
)
def test_unsafe_or_malformed_settings_are_refused_at_their_line(
    tmp_path: Path, web: dict[str, Any], path: str, message: str
) -> None:
    config = config_with(tmp_path, web)
    found = issues(config)
    assert len(found) == 1, found
    assert found[0].startswith(f"{config}:"), found
    assert f" {path}" in found[0] and message in found[0], found


def test_a_remote_bind_with_tls_is_accepted(tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path)
    web = load(
        config_with(
            tmp_path, {"bind": "0.0.0.0", "tls": {"cert_file": cert.name, "key_file": key.name}}
        )
    ).config.web
    assert web.scheme == "https"


def test_tls_files_are_checked_at_load_relative_to_the_configuration(tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path)
    other_cert, other_key = self_signed(tmp_path, "other")
    (tmp_path / "folder.pem").mkdir()
    cases: list[tuple[dict[str, str], str, str]] = [
        ({"cert_file": "missing.pem", "key_file": key.name}, "web.tls.cert_file", "does not exist"),
        ({"cert_file": cert.name, "key_file": "folder.pem"}, "web.tls.key_file", "is a folder"),
        ({"cert_file": cert.name, "key_file": other_key.name}, "web.tls", "cannot use"),
        ({"cert_file": key.name, "key_file": key.name}, "web.tls", "cannot use"),
    ]
    for tls, path, message in cases:
        config = config_with(tmp_path, {"tls": tls})
        found = issues(config)
        assert len(found) == 1, (tls, found)
        file, line = found[0].split(":")[:2]
        assert file == str(config) and line.isdigit(), found
        assert f" {path}" in found[0] and message in found[0], (tls, found)
    assert other_cert.exists()


def test_the_read_only_commands_do_not_read_the_tls_key(tmp_path: Path) -> None:
    """Like every secret: a QA reviewer's ``verify`` needs no access to the key."""
    config = config_with(tmp_path, {"tls": {"cert_file": "a.pem", "key_file": "b.pem"}})
    with secrets_deferred():
        assert load(config, secrets=False).config.web.tls is not None
    assert len(issues(config)) == 2


def test_check_config_exits_2_naming_the_file_and_line_of_a_bad_tls_file(
    tmp_path: Path,
) -> None:
    _, key = self_signed(tmp_path)
    config = config_with(tmp_path, {"tls": {"cert_file": "nowhere.pem", "key_file": key.name}})
    line = next(
        n for n, text in enumerate(config.read_text().splitlines(), 1) if "cert_file" in text
    )
    result = subprocess.run(
        [sys.executable, "-m", "monitor.app.cli", "check-config", "-c", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2, result
    assert "Traceback" not in result.stderr + result.stdout
    assert result.stdout.startswith(f"{config}:{line}: web.tls.cert_file"), result
    assert f"'{tmp_path / 'nowhere.pem'}' does not exist" in result.stdout


def test_the_model_is_strict_and_frozen() -> None:
    with pytest.raises(ValueError, match="frozen"):
        WebConfig().port = 1  # type: ignore[misc]


def test_the_yaml_examples_of_docs_web_md_load(tmp_path: Path) -> None:
    text = (REPO / "docs" / "web.md").read_text()
    blocks = re.findall(r"^```yaml\n(.*?)^```$", text, flags=re.S | re.M)
    webs = [data["web"] for data in map(yaml.safe_load, blocks) if "web" in data]
    assert len(webs) >= 2
    for web in webs:
        assert load(config_with(tmp_path, web)).config.web.enabled


def test_signature_meanings_are_configured_per_action_and_checked(tmp_path: Path) -> None:
    web = load(
        config_with(tmp_path, {"signatures": {"meanings": {"shelve": ["Shelved: under WO"]}}})
    ).config.web
    assert web.signatures.of("shelve") == ("Shelved: under WO",)
    assert "Acknowledged: product checked and safe" in web.signatures.of("acknowledge")
    found = issues(config_with(tmp_path, {"signatures": {"meanings": {"delete": ["x"]}}}))
    assert len(found) == 1 and "web.signatures.meanings" in found[0]
    assert "'delete' is not a signed action" in found[0]
