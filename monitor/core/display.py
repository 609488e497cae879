"""How a reading's value is written for people: CLI tables, the readings CSV, the demo's table.

One helper so that every screen and export shows the same digits. Values are stored already
free of float noise (the drivers round them at decode time, see :mod:`monitor.core.numbers`);
this only chooses how many decimals to show.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from decimal import Decimal

#: A channel's ``decimals:`` may ask for 0 to this many digits after the point.
MAX_DECIMALS = 9


def format_value(value: float | int | str | None, decimals: int | None = None) -> str:
    """``value`` as text: a fixed number of ``decimals`` if given, else the stored value's own
    shortest form, never in exponent notation, never ``-0``. ``None`` (a bad reading) gives ""
    so the caller writes what the gap means (its quality) in its own column.
    """
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    number = float(value)
    if number != number or number in (float("inf"), float("-inf")):
        return str(number)  # never stored (bad quality instead); shown as is, not hidden
    if decimals is not None:
        text = f"{number:.{decimals}f}"
    else:
        text = repr(number)
        if "e" in text or "E" in text:
            text = format(Decimal(text), "f")
    if text.startswith("-") and text.strip("-0.") == "":
        text = text[1:]  # -0.0 and values that round to zero are shown without a sign
    return text


def align_decimal(texts: Sequence[str]) -> list[str]:
    """Numbers as text, padded to one width with their decimal points in one column (text
    that is not a number is right-aligned)."""
    split = [_split_number(t) for t in texts]
    whole = max((len(w) for w, _ in split), default=0)
    frac = max((len(f) for _, f in split), default=0)
    cells = [w.rjust(whole) + f.ljust(frac) for w, f in split]
    width = max((len(c) for c in cells), default=0)
    return [c.rjust(width) for c in cells]


def _split_number(text: str) -> tuple[str, str]:
    """(the part before the decimal point, the point and the rest) of a number; a text that
    is not a number is all 'before'."""
    body = text.lstrip("-")
    whole, point, frac = body.partition(".")
    if whole.isdigit() and (not point or frac.isdigit() or frac == ""):
        return text[: len(text) - len(body)] + whole, point + frac
    return text, ""


def format_table(
    rows: Sequence[Sequence[str]],
    numeric: Collection[int] = (),
    header: bool = True,
    gap: str = "  ",
) -> list[str]:
    """Rows as aligned lines: every column as wide as its widest cell, the ``numeric`` columns
    aligned on the decimal point (a ``header`` row's titles right-aligned over them), the last
    column left ragged. Widths count characters (the CLI's texts are ASCII and Latin-1)."""
    if not rows:
        return []
    columns = [list(col) for col in zip(*rows, strict=True)]
    titles = 1 if header else 0
    for index in numeric:
        heads, cells = columns[index][:titles], align_decimal(columns[index][titles:])
        width = max(len(c) for c in [*heads, *cells])
        columns[index] = [c.rjust(width) for c in [*heads, *cells]]
    for index, col in enumerate(columns[:-1]):
        width = max(len(c) for c in col)
        columns[index] = [c.ljust(width) for c in col]
    return [gap.join(cells).rstrip() for cells in zip(*columns, strict=True)]
