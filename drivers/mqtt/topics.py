"""MQTT topic filters: validation, matching, containment and channel-id templates.

Matching follows the MQTT 3.1.1 rules the broker applies (``+`` one level, ``#`` the rest
including none, and a filter starting with a wildcard never matches a ``$`` topic), so that
the driver routes a message exactly as the broker chose to send it. The driver subscribes
only to filters that no other filter of the device covers, so that overlapping filters can
never make the broker send one message twice.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

T = TypeVar("T")

MAX_TOPIC_BYTES = 65535
_PLACEHOLDER = re.compile(r"\{(\d+)\}")


def check_filter(text: str) -> str:
    """Return a valid subscription filter unchanged; raise ValueError saying what is wrong."""
    _check_common(text, "topic filter")
    if text.startswith("$share/"):
        raise ValueError(
            f"topic filter '{text}': shared subscriptions split messages between clients, "
            "and coldwatch must see every message; subscribe to the topic itself"
        )
    levels = text.split("/")
    for i, level in enumerate(levels):
        if "#" in level and (level != "#" or i != len(levels) - 1):
            raise ValueError(
                f"topic filter '{text}': '#' must be a whole level and the last one (e.g. a/b/#)"
            )
        if "+" in level and level != "+":
            raise ValueError(f"topic filter '{text}': '+' must be a whole level (e.g. a/+/c)")
    return text


def check_topic(text: str) -> str:
    """Return a valid topic name (no wildcards) unchanged; raise ValueError otherwise."""
    _check_common(text, "topic")
    if "+" in text or "#" in text:
        raise ValueError(f"topic '{text}' must not contain the wildcards + or #")
    return text


def _check_common(text: str, what: str) -> None:
    if not text:
        raise ValueError(f"{what} must not be empty")
    if len(text.encode("utf-8")) > MAX_TOPIC_BYTES:
        raise ValueError(f"{what} is longer than {MAX_TOPIC_BYTES} bytes")
    if "\x00" in text:
        raise ValueError(f"{what} '{text!r}' must not contain a NUL character")


def has_wildcard(topic_filter: str) -> bool:
    return "+" in topic_filter or "#" in topic_filter


def matches(topic_filter: str, topic: str) -> bool:
    """Whether ``topic`` (a name) matches ``topic_filter``, as a broker decides it."""
    return _match_levels(topic_filter.split("/"), topic.split("/"))


def _match_levels(flt: Sequence[str], top: Sequence[str]) -> bool:
    if top and top[0].startswith("$") and flt and flt[0] in ("+", "#"):
        return False
    for i, level in enumerate(flt):
        if level == "#":
            return True
        if i >= len(top):
            return False
        if level != "+" and level != top[i]:
            return False
    return len(flt) == len(top)


def covers(general: str, specific: str) -> bool:
    """Whether every topic that matches filter ``specific`` also matches filter ``general``."""
    g, s = general.split("/"), specific.split("/")
    if g[0] in ("+", "#") and s[0].startswith("$"):
        return False
    for i, level in enumerate(g):
        if level == "#":
            return True
        if i >= len(s):
            return False
        if s[i] == "#":
            return False
        if level == "+":
            continue
        if level != s[i]:
            return False
    return len(g) == len(s)


def minimal_filters(filters: Iterable[str]) -> list[str]:
    """The filters that no other one covers (duplicates once), in first-seen order."""
    unique = list(dict.fromkeys(filters))
    return [f for f in unique if not any(other != f and covers(other, f) for other in unique)]


@dataclass(frozen=True, slots=True)
class Template:
    """A channel id built from topic levels: ``{1}.{2}`` on ``site/+/+/temperature`` takes
    the levels numbered from 0, so ``site/freezer-07/cabinet/temperature`` gives
    ``freezer-07.cabinet``."""

    text: str
    parts: tuple[str | int, ...]

    @staticmethod
    def parse(text: str, topic_filter: str) -> Template:
        levels = topic_filter.split("/")
        parts: list[str | int] = []
        pos = 0
        for m in _PLACEHOLDER.finditer(text):
            parts.append(text[pos : m.start()])
            index = int(m.group(1))
            if index >= len(levels):
                raise ValueError(
                    f"channel template '{text}': {{{index}}} names level {index} but "
                    f"'{topic_filter}' has levels 0..{len(levels) - 1}"
                )
            if levels[index] == "#":
                raise ValueError(
                    f"channel template '{text}': {{{index}}} is the '#' level of "
                    f"'{topic_filter}', which can span several levels; use '+' there"
                )
            parts.append(index)
            pos = m.end()
        parts.append(text[pos:])
        literal = "".join(p for p in parts if isinstance(p, str))
        if "{" in literal or "}" in literal:
            raise ValueError(
                f"channel template '{text}': braces only enclose a level number, e.g. {{1}}"
            )
        if not any(isinstance(p, int) for p in parts):
            raise ValueError(
                f"channel template '{text}' uses no topic level; write e.g. '{{1}}.{{2}}' "
                "(or give the channel its own 'topic' instead)"
            )
        return Template(text, tuple(p for p in parts if p != ""))

    def render(self, levels: Sequence[str]) -> str:
        return "".join(p if isinstance(p, str) else levels[p] for p in self.parts)

    def could_give(self, channel: str, topic_filter: str) -> bool:
        """Whether some topic matching ``topic_filter`` renders to ``channel``."""
        levels = topic_filter.split("/")
        pattern = "".join(
            re.escape(p)
            if isinstance(p, str)
            else ("[^/]*" if levels[p] == "+" else re.escape(levels[p]))
            for p in self.parts
        )
        return re.fullmatch(pattern, channel) is not None


@dataclass(slots=True)
class _Node(Generic[T]):
    children: dict[str, _Node[T]] = field(default_factory=dict)
    here: list[T] = field(default_factory=list)
    rest: list[T] = field(default_factory=list)  # targets of a '#' below this node


class Router(Generic[T]):
    """Finds every target whose filter matches a topic: a dict for plain topics, a level
    trie for wildcard filters, so the cost per message does not grow with the channels."""

    def __init__(self) -> None:
        self._exact: dict[str, list[T]] = {}
        self._root: _Node[T] = _Node()
        self._wild = False

    def add(self, topic_filter: str, target: T) -> None:
        if not has_wildcard(topic_filter):
            self._exact.setdefault(topic_filter, []).append(target)
            return
        self._wild = True
        node = self._root
        for level in topic_filter.split("/"):
            if level == "#":
                node.rest.append(target)
                return
            node = node.children.setdefault(level, _Node())
        node.here.append(target)

    def match(self, topic: str) -> list[T]:
        found = list(self._exact.get(topic, ()))
        if self._wild:
            self._walk(self._root, topic.split("/"), 0, found)
        return found

    def _walk(self, node: _Node[T], levels: list[str], i: int, out: list[T]) -> None:
        dollar = i == 0 and levels[0].startswith("$")
        if node.rest and not dollar:
            out.extend(node.rest)
        if i == len(levels):
            out.extend(node.here)
            return
        child = node.children.get(levels[i])
        if child is not None:
            self._walk(child, levels, i + 1, out)
        if not dollar:
            plus = node.children.get("+")
            if plus is not None:
                self._walk(plus, levels, i + 1, out)
