"""Where the tests find the repository's own files (config/, docs/, ...)."""

from __future__ import annotations

from pathlib import Path

#: The repository's root: tests/support/paths.py is two folders below it.
REPO = Path(__file__).resolve().parents[2]
