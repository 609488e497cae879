"""The ``web:`` section: where the web console listens, over TLS or not, and its limits.

Without the section there is no web console. With it, the console is on unless
``enabled: false``, on loopback unless ``bind`` names another address, which then needs
``tls`` (sign-in passwords must never cross a network in clear). Behind a reverse proxy on the
same machine, keep the loopback bind and set ``public_url`` to the address people use.

The sign-in and signature settings (``session``, ``lockout``, ``password``, ``signatures``)
are the identity part's (:mod:`monitor.identity.settings`).
"""

from __future__ import annotations

import ipaddress
import ssl
from pathlib import Path
from urllib.parse import urlsplit

from pydantic import Field, field_validator, model_validator

from monitor.config.loader import Checker
from monitor.config.sections import Strict
from monitor.core.secrets import secrets_are_deferred
from monitor.identity.settings import (
    LockoutSettings,
    PasswordSettings,
    SessionSettings,
    SignatureSettings,
)

DEFAULT_PORT = 8480
DEFAULT_MAX_BODY = 64 * 1024


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class WebTls(Strict):
    """The certificate chain and private key, PEM files (paths relative to the configuration)."""

    cert_file: str = Field(min_length=1)
    key_file: str = Field(min_length=1)


class WebConfig(Strict):
    enabled: bool = True
    bind: str = "127.0.0.1"
    """An IP address (``127.0.0.1``, ``::1``, ``0.0.0.0``) or ``localhost``."""
    port: int = Field(default=DEFAULT_PORT, ge=1, le=65535)
    tls: WebTls | None = None
    public_url: str | None = None
    """The address people open (behind a reverse proxy, the proxy's), e.g.
    ``https://coldwatch.example.org/``: links in pages and messages point there."""
    max_body_bytes: int = Field(default=DEFAULT_MAX_BODY, ge=1024, le=16 * 1024 * 1024)
    """A request body larger than this is refused with 413 before it is read."""
    session: SessionSettings = SessionSettings()
    lockout: LockoutSettings = LockoutSettings()
    password: PasswordSettings = PasswordSettings()
    signatures: SignatureSettings = SignatureSettings()

    @field_validator("bind")
    @classmethod
    def _address(cls, value: str) -> str:
        if value == "localhost":
            return value
        try:
            ipaddress.ip_address(value.strip("[]"))
        except ValueError:
            raise ValueError(
                f"'{value}' is not an IP address (e.g. 127.0.0.1, ::1, 0.0.0.0) or localhost"
            ) from None
        return value.strip("[]")

    @field_validator("public_url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"'{value}' is not an http:// or https:// address with a host name")
        if parts.query or parts.fragment or parts.username or parts.password:
            raise ValueError(f"'{value}' must not carry a query, a fragment or a user name")
        return value

    @model_validator(mode="after")
    def _remote_needs_tls(self) -> WebConfig:
        if self.enabled and not is_loopback(self.bind) and self.tls is None:
            raise ValueError(
                f"bind '{self.bind}' is reachable from the network and needs tls: "
                "{cert_file, key_file} (passwords must not cross it in clear); behind a "
                "reverse proxy on this machine, keep bind: 127.0.0.1"
            )
        return self

    @property
    def scheme(self) -> str:
        return "https" if self.tls is not None else "http"

    def local_url(self) -> str:
        host = f"[{self.bind}]" if ":" in self.bind else self.bind
        return f"{self.scheme}://{host}:{self.port}/"


#: Off: what a configuration without a ``web:`` section gets.
WEB_OFF = WebConfig(enabled=False)


def tls_paths(tls: WebTls, base_dir: Path) -> tuple[Path, Path]:
    """The certificate and key files, relative paths taken from the configuration's folder."""
    return (base_dir / tls.cert_file, base_dir / tls.key_file)


def check_web(web: WebConfig, checker: Checker, base_dir: Path) -> None:
    """The TLS files exist, are readable and hold a certificate and its own key: found at
    load, not at the first connection. The key is a secret: the read-only commands, which
    read none (:func:`monitor.core.secrets.secrets_deferred`), do not look at either file."""
    if not web.enabled or web.tls is None or secrets_are_deferred():
        return
    cert, key = tls_paths(web.tls, base_dir)
    problems = 0
    for name, path in (("cert_file", cert), ("key_file", key)):
        issue = _file_issue(path)
        if issue is not None:
            checker.add(("web", "tls", name), issue)
            problems += 1
    if problems:
        return
    try:
        ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(cert, key)
    except (ssl.SSLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", None) or str(exc)
        checker.add(
            ("web", "tls"),
            f"cannot use {cert} with {key} ({reason}): both must be PEM, the key the "
            "certificate's own and not protected by a passphrase",
        )


def _file_issue(path: Path) -> str | None:
    try:
        with path.open("rb") as handle:
            handle.read(1)
    except FileNotFoundError:
        return f"'{path}' does not exist"
    except IsADirectoryError:
        return f"'{path}' is a folder, not a file"
    except PermissionError:
        return f"'{path}' cannot be read by this user"
    except OSError as exc:
        return f"'{path}' cannot be read: {exc.strerror or exc}"
    return None
