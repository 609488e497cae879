"""The browser harness itself: a missing chromium is a skip that says why on a developer's
machine and a failure under ``CI=true``; the axe-core the tests inject is the vendored file."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support import browser


def test_a_missing_chromium_skips_with_the_reason(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(browser, "CHROMIUM", tmp_path / "chromium")
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="missing: `make test` installs Debian's"):
        browser.chromium_or_skip()


def test_a_missing_chromium_fails_under_ci(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(browser, "CHROMIUM", tmp_path / "chromium")
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match=r"CI=true and .*chromium is missing"):
        browser.chromium_or_skip()


def test_the_injected_axe_core_is_the_vendored_file() -> None:
    source = browser.axe_source()  # checks its sha256 against the README's
    assert "axe v4.14.1" in source[:200]
    readme = (browser.AXE.parent / "README.md").read_text()
    assert browser.AXE_SHA256 in readme
