"""The root configuration: the shared sections (``monitor.config``) plus the alarm, paging and
acknowledgement sections (``alarms``) and the web console's (``monitor.app.web``), loaded and
cross-checked as one document.

This is the only place that knows every section; each part checks its own with one small
function, all reporting through one checker so that every issue comes back at once.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from alarms.ack.config import AckConfig, os_user_map
from alarms.config import AlarmsConfig
from alarms.config import describe_path as describe_alarm_path
from alarms.escalation.config import EscalationConfig, PagingConfig, ScheduleSpec
from alarms.escalation.config_checks import check_paging
from alarms.people import Group, Person
from alarms.rules import compile_rules
from drivers.base import DriverSettings, PointSettings
from drivers.binding import DeviceBindings, bind_devices
from monitor.app.effective import effective_config
from monitor.app.web.config import WEB_OFF, WebConfig, check_web
from monitor.config.issues import ConfigError, ConfigIssue
from monitor.config.loader import Checker, open_document
from monitor.config.sections import SiteConfig
from monitor.config.site_checks import check_site
from monitor.core.file_access import group_id
from monitor.core.secrets import redact, secrets_deferred
from monitor.store.factory import sqlite_path

__all__ = ["Config", "ConfigError", "ConfigIssue", "LoadedConfig", "load"]


class Config(SiteConfig):
    alarms: AlarmsConfig | None = None  # no section: no alarm engine (see docs/alarms.md)
    # paging (docs/notifiers.md, docs/escalation.md) and acknowledgement (docs/acknowledgement.md)
    notifiers: dict[str, dict[str, Any]] = {}
    people: tuple[Person, ...] = ()
    groups: tuple[Group, ...] = ()
    schedules: dict[str, ScheduleSpec] = {}
    escalation: EscalationConfig | None = None
    acknowledgement: AckConfig | None = None
    web: WebConfig = WEB_OFF  # the web console (docs/web.md); no section: none


@dataclass
class LoadedConfig:
    """A validated configuration with what the store keeps beside the records."""

    config: Config
    sources: list[str]
    bindings: DeviceBindings = field(default_factory=DeviceBindings)
    written_sha256: str = ""
    """SHA-256 of what the files say (merged, secrets redacted), apart from this coldwatch's
    defaults: a load whose effective configuration changed while this did not was changed by
    the software (an upgrade), not by a person (:mod:`monitor.app.config_audit`)."""

    @property
    def driver_settings(self) -> dict[str, DriverSettings]:
        return self.bindings.driver_settings

    @property
    def point_settings(self) -> dict[str, PointSettings]:
        return self.bindings.point_settings

    @property
    def effective(self) -> dict[str, Any]:
        """The full effective configuration from the models, every secret field redacted
        (:mod:`monitor.app.effective`)."""
        return effective_config(self.config, self.bindings, self.config.notifiers)

    @property
    def effective_json(self) -> str:
        return json.dumps(self.effective, sort_keys=True, separators=(",", ":"))

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.effective_json.encode()).hexdigest()


def load(path: str | Path, *, secrets: bool = True) -> LoadedConfig:
    """Load, validate and cross-check; raise :class:`ConfigError` with every issue found.

    ``secrets``: read every secret from its environment variable or file, so that one that
    cannot be read is an issue (the daemon, ``check-config``). Without, where each secret
    comes from is still checked but none is read: what the read-only commands load, so that
    a QA reviewer running ``verify`` needs nobody's PIN."""
    if secrets:
        return _load(path)
    with secrets_deferred():
        return _load(path)


def _load(path: str | Path) -> LoadedConfig:
    checker = open_document(path, {"alarms": describe_alarm_path})
    cfg = checker.validate(Config)
    check_site(cfg, checker)
    check_store_path(cfg, checker, config_folder(path))
    check_store_group(cfg, checker)
    bindings = bind_devices(cfg, checker)
    check_alarms(cfg, checker)
    check_paging_sections(cfg, checker)
    check_acknowledgement(cfg, checker)
    check_web(cfg.web, checker, config_folder(path))
    checker.raise_if_any()
    return LoadedConfig(cfg, checker.document.sources, bindings, written_digest(checker))


def written_digest(checker: Checker) -> str:
    """The hash of the merged document as written (no defaults), secrets redacted."""
    data = redact(checker.document.data)
    text = json.dumps(data, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def config_folder(config_path: str | Path) -> Path:
    """Relative paths in a configuration are taken from its file's folder (or the folder
    given), never from the service's working directory."""
    path = Path(config_path).resolve()
    return path if path.is_dir() else path.parent


def check_store_path(cfg: Config, checker: Checker, base_dir: Path) -> None:
    path = sqlite_path(cfg.store, base_dir)
    if path.exists() and not path.is_file():
        checker.add(("store", "path"), f"'{path}' is not a file (a folder?)")


def check_store_group(cfg: Config, checker: Checker) -> None:
    if cfg.store.group is not None:
        try:
            group_id(cfg.store.group)
        except ValueError as exc:
            checker.add(("store", "group"), str(exc))


def check_alarms(cfg: Config, checker: Checker) -> None:
    if cfg.alarms is not None:
        for path, message in compile_rules(cfg).issues:
            checker.add(path, message)


def check_paging_sections(cfg: Config, checker: Checker) -> None:
    for path, message in check_paging(PagingConfig.of(cfg), cfg):
        checker.add(path, message)


def check_acknowledgement(cfg: Config, checker: Checker) -> None:
    if cfg.acknowledgement is not None:
        try:
            os_user_map(cfg.people)
        except ValueError as exc:
            checker.add(("people",), str(exc))
