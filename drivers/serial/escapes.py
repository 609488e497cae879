"""Backslash escapes in configured byte strings (terminators, commands, junk to strip).

YAML only turns ``\\r\\n`` into CR LF inside double quotes; users also write them in plain
or single-quoted strings, where they stay as backslash sequences. Both mean the same here,
so a terminator works however it was quoted. Unknown escapes are refused rather than kept,
so that a typo such as ``\\m`` is an error at load time, not a silent mismatch at 3 a.m.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BeforeValidator

_SIMPLE = {"r": "\r", "n": "\n", "t": "\t", "0": "\x00", "e": "\x1b", "\\": "\\"}
_HEX = frozenset("0123456789abcdefABCDEF")


def unescape(text: str) -> str:
    """``text`` with ``\\r \\n \\t \\0 \\e \\\\`` and ``\\xHH`` replaced by their characters."""
    out: list[str] = []
    i = 0
    while i < len(text):
        char = text[i]
        if char != "\\":
            out.append(char)
            i += 1
            continue
        code = text[i + 1 : i + 2]
        if code in _SIMPLE:
            out.append(_SIMPLE[code])
            i += 2
        elif code == "x" and len(text) >= i + 4 and set(text[i + 2 : i + 4]) <= _HEX:
            out.append(chr(int(text[i + 2 : i + 4], 16)))
            i += 4
        else:
            shown = text[i : i + 4] if code == "x" else text[i : i + 2]
            raise ValueError(
                f"unknown escape '{shown}' in {text!r}: use \\r, \\n, \\t, \\0, \\e, \\xHH "
                "or \\\\ for a backslash"
            )
    return "".join(out)


def to_bytes(text: str) -> bytes:
    """The bytes a configured string stands for (one byte per character, Latin-1)."""
    return text.encode("latin-1")


def _validate(value: Any) -> Any:
    if not isinstance(value, str):
        return value  # pydantic's own str check gives the message
    text = unescape(value)
    try:
        to_bytes(text)
    except UnicodeEncodeError:
        raise ValueError(
            f"{value!r} has characters that are not single bytes (Latin-1); write other "
            "bytes as \\xHH"
        ) from None
    return text


Escaped = Annotated[str, BeforeValidator(_validate)]
"""A configured string with escapes resolved, guaranteed to encode as Latin-1."""
