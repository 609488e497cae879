"""A one-freezer site for tests that run ``coldwatch`` as a real process: the Modbus freezer
part of its configuration, and the environment that makes the process import this checkout."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from tests.support.paths import REPO

CABINET = 0x540
"""The holding register of the freezer's cabinet temperature (INT32, 0.1 C)."""


def checkout_env(**extra: str) -> dict[str, str]:
    """The environment with this checkout first on the path, whatever copy of coldwatch is
    installed."""
    path = os.environ.get("PYTHONPATH")
    return {
        **os.environ,
        "PYTHONPATH": str(REPO) + (os.pathsep + path if path else ""),
        **extra,
    }


def freezer_site(folder: Path, port: int, site_id: str, name: str) -> dict[str, Any]:
    """Site, store, logging, one Modbus device on ``port`` polled every second, and one ULT
    freezer (``freezer.cabinet_temp``) read from it; the caller adds alarms, people, paging."""
    return {
        "site": {"id": site_id, "name": name, "timezone": "UTC"},
        "store": {"path": str(folder / "cw.db"), "commit_interval": "200ms"},
        "logging": {"level": "info", "format": "json"},
        "devices": [
            {
                "id": "tsx",
                "driver": "modbus",
                "interval": "1s",
                "timeout": "800ms",
                "settings": {
                    "transport": "tcp",
                    "host": "127.0.0.1",
                    "port": port,
                    "unit": 1,
                    "request_timeout": "300ms",
                },
            }
        ],
        "locations": [
            {
                "id": "room",
                "equipment": [
                    {
                        "id": "freezer",
                        "kind": "ult_freezer",
                        "name": "ULT freezer",
                        "channels": [
                            {
                                "id": "cabinet_temp",
                                "quantity": "temperature",
                                "unit": "C",
                                "source": {
                                    "device": "tsx",
                                    "register": "holding",
                                    "address": CABINET,
                                    "type": "int32",
                                    "scale": 0.1,
                                },
                            }
                        ],
                    }
                ],
            }
        ],
    }
