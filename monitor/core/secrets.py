"""Secrets in configuration: typed as secrets, from an environment variable or a file.

A secret field ``password`` has two twins, ``password_env`` and ``password_file``; at most one
of the three may be set. Values never appear in logs or in the stored effective configuration.

Redaction is driven by the schema: a secret field is typed :data:`Secret` (a pydantic
``SecretStr`` that every dump of its model, JSON or Python, writes as :data:`REDACTED`), so the
effective configuration made from the models holds the marker wherever the field sits. The
value is read only where it is used (``get_secret_value()``, :func:`resolve_secret`), and a
value resolved from ``*_env`` or ``*_file`` lives in no model at all. :func:`redact` by key
names is a second net over the dump, never the only one.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Annotated, Any, get_args

from pydantic import BaseModel, PlainSerializer, SecretBytes, SecretStr

REDACTED = "<redacted>"
MAX_SECRET_FILE_BYTES = 64 * 1024
_SECRET_WORDS = ("password", "token", "secret", "auth", "pin", "api_key", "private_key")


def _masked(value: SecretStr) -> str:
    return REDACTED


Secret = Annotated[SecretStr, PlainSerializer(_masked, return_type=str, when_used="always")]
"""The type of every secret in configuration: dumped as :data:`REDACTED`, read only with
``get_secret_value()`` where it is used."""


def is_secret_type(annotation: Any) -> bool:
    """Whether a field's annotation holds a secret (``Secret``, ``SecretStr | None``, ...)."""
    if isinstance(annotation, type) and issubclass(annotation, SecretStr | SecretBytes):
        return True
    return any(is_secret_type(arg) for arg in get_args(annotation))


def secret_field_names(model: type[BaseModel]) -> tuple[str, ...]:
    """The fields of ``model`` typed as secrets, in declaration order."""
    return tuple(n for n, f in model.model_fields.items() if is_secret_type(f.annotation))


def is_secret_key(key: str) -> bool:
    """The second net: a key whose name says it holds a secret (``*_env``/``*_file`` name
    where a secret comes from, not the secret)."""
    lowered = key.lower()
    if lowered.endswith(("_env", "_file")):
        return False
    return any(word in lowered for word in _SECRET_WORDS)


_DEFERRED: ContextVar[bool] = ContextVar("coldwatch_secrets_deferred", default=False)


@contextmanager
def secrets_deferred() -> Iterator[None]:
    """Within: a secret from an environment variable or a file is not read (its value is
    None), so that a configuration can be checked where its secrets are not installed (CI,
    a workstation): ``coldwatch check-config --without-secrets``. Where each secret comes from
    is still checked."""
    token = _DEFERRED.set(True)
    try:
        yield
    finally:
        _DEFERRED.reset(token)


def secrets_are_deferred() -> bool:
    return _DEFERRED.get()


def resolve_secret(name: str, inline: str | None, env: str | None, file: str | None) -> str | None:
    """Return the secret's value; raise ValueError naming the key when it cannot be had."""
    given = [k for k, v in ((name, inline), (f"{name}_env", env), (f"{name}_file", file)) if v]
    if len(given) > 1:
        raise ValueError(f"set only one of {', '.join(given)}")
    if _DEFERRED.get() and (env or file):
        return None
    if env:
        value = os.environ.get(env)
        if value is None:
            raise ValueError(f"{name}_env names environment variable '{env}', which is not set")
        return value
    if file:
        return _read_secret_file(name, file)
    return inline


def _read_secret_file(name: str, file: str) -> str:
    """A regular UTF-8 file of at most 64 KiB (a FIFO or /dev/zero is refused, not read)."""
    path = Path(os.path.expandvars(file))
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        raise ValueError(f"{name}_file '{file}' cannot be read: {exc.strerror}") from None
    with os.fdopen(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
            raise ValueError(f"{name}_file '{file}' is not a regular file")
        data = handle.read(MAX_SECRET_FILE_BYTES + 1)
    if len(data) > MAX_SECRET_FILE_BYTES:
        raise ValueError(f"{name}_file '{file}' is larger than 64 KiB")
    try:
        return data.decode("utf-8").strip()
    except UnicodeDecodeError:
        raise ValueError(f"{name}_file '{file}' is not UTF-8 text") from None


def redact(obj: object) -> object:
    """A deep copy of a JSON-like structure with the value of every key named like a secret
    replaced: the second net over a dump of models whose secrets are typed :data:`Secret`.
    Mappings under such a key are walked rather than replaced (``secret_headers``: the header
    names are no secret; ``tokens: [{person, token}]``: the people are not), and so is a
    true/false (QA must see whether a one-time password was issued)."""
    if isinstance(obj, dict):
        return {
            k: (
                REDACTED
                if is_secret_key(str(k))
                and v not in (None, "")
                and not isinstance(v, bool)  # a yes/no (``password_one_time``) hides nothing
                and not _mappings(v)
                else redact(v)
            )
            for k, v in obj.items()
        }
    if isinstance(obj, list):
        return [redact(v) for v in obj]
    return obj


def _mappings(value: object) -> bool:
    return isinstance(value, dict) or (
        isinstance(value, list) and bool(value) and all(isinstance(v, dict) for v in value)
    )
