"""Twilio's form bodies and query strings, read strictly: UTF-8, each field once, bounded.

Twilio sends ``application/x-www-form-urlencoded`` UTF-8 with every field once; anything
else is not Twilio (or not a request coldwatch understands) and is refused with a short
reason, never guessed at (a repeated field would let the signature cover one value and the
handler read another).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TypeVar
from urllib.parse import parse_qsl

T = TypeVar("T")

#: Twilio's callbacks carry a few dozen fields.
MAX_FIELDS = 100


class BadForm(ValueError):
    """Not a form coldwatch reads (the message says why, briefly)."""


def parse_form(raw: bytes) -> dict[str, str]:
    """The fields of a urlencoded body; :class:`BadForm` for non-UTF-8, too many or
    repeated fields."""
    try:
        text = raw.decode("utf-8")
        pairs = parse_qsl(text, keep_blank_values=True, errors="strict", max_num_fields=MAX_FIELDS)
    except UnicodeDecodeError:
        raise BadForm("the form is not UTF-8") from None
    except ValueError:
        raise BadForm(f"more than {MAX_FIELDS} form fields") from None
    return once_each(pairs, "form field")


def once_each(pairs: Iterable[tuple[str, T]], what: str) -> dict[str, T]:
    """``pairs`` as a dict; :class:`BadForm` when a name repeats."""
    out: dict[str, T] = {}
    for name, value in pairs:
        if name in out:
            raise BadForm(f"repeated {what} '{name[:40]}'")
        out[name] = value
    return out
