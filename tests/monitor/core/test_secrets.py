"""Secrets from the environment or a file, and redaction (monitor/core/secrets.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor.core.secrets import REDACTED, redact, resolve_secret


def test_secrets_from_env_and_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CW_TEST_TOKEN", "s3cret")
    assert resolve_secret("token", None, "CW_TEST_TOKEN", None) == "s3cret"
    secret_file = tmp_path / "token"
    secret_file.write_text("from-file\n")
    assert resolve_secret("token", None, None, str(secret_file)) == "from-file"
    with pytest.raises(ValueError, match="set only one of token, token_env"):
        resolve_secret("token", "inline", "CW_TEST_TOKEN", None)
    with pytest.raises(ValueError, match="CW_MISSING"):
        resolve_secret("token", None, "CW_MISSING", None)
    with pytest.raises(ValueError, match="cannot be read"):
        resolve_secret("token", None, None, str(tmp_path / "nope"))
    assert redact(
        {"password": "x", "password_file": "/run/creds/p", "nested": [{"auth_token": "y"}]}
    ) == {
        "password": REDACTED,
        "password_file": "/run/creds/p",
        "nested": [{"auth_token": REDACTED}],
    }


def test_a_yes_or_no_is_no_secret_but_a_number_may_be() -> None:
    """A user's audit entry shows whether a one-time password was issued; a PIN written as a
    number in YAML stays hidden."""
    assert redact({"password_one_time": True, "pin": 4711, "password_one": False}) == {
        "password_one_time": True,
        "pin": REDACTED,
        "password_one": False,
    }
