"""MQTT topic filters and routing, and channel templates (drivers/mqtt/topics.py); property-based
where it counts: the router agrees with filter matching, covers() is sound."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from drivers.mqtt.topics import Router, Template, check_filter, covers, matches, minimal_filters


@pytest.mark.parametrize(
    ("flt", "topic", "expected"),
    [
        ("a/b", "a/b", True),
        ("a/+", "a/b", True),
        ("a/+", "a/b/c", False),
        ("a/#", "a", True),  # '#' also matches the parent level
        ("a/#", "a/b/c", True),
        ("#", "a/b", True),
        ("+/+", "a/b", True),
        ("+", "/a", False),
        ("+/a", "/a", True),  # an empty first level is a level
        ("#", "$SYS/broker/x", False),  # wildcards never match $ topics at the first level
        ("+/broker/x", "$SYS/broker/x", False),
        ("$SYS/#", "$SYS/broker/x", True),
        ("a/+/c", "a//c", True),
    ],
)
def test_filter_matching_follows_mqtt(flt: str, topic: str, expected: bool) -> None:
    assert matches(flt, topic) is expected
    router: Router[str] = Router()
    router.add(flt, "x")
    assert (router.match(topic) == ["x"]) is expected


@pytest.mark.parametrize(
    "bad", ["", "a/#/b", "a#", "a/b+", "+a/b", "a\x00b", "x" * 70000, "$share/g/a/b"]
)
def test_invalid_filters_are_refused_with_a_reason(bad: str) -> None:
    with pytest.raises(ValueError, match=r"topic filter|must not|shared"):
        check_filter(bad)


def test_covers_and_minimal_filters() -> None:
    assert covers("a/#", "a/b/+")
    assert covers("a/+", "a/b")
    assert covers("#", "a/#")
    assert not covers("a/+", "a/#")
    assert not covers("a/+", "a/b/c")
    assert not covers("#", "$SYS/broker/x")
    assert minimal_filters(["a/b", "a/+", "c", "a/+", "$SYS/x", "#"]) == ["$SYS/x", "#"]
    assert minimal_filters(["a/b", "a/c"]) == ["a/b", "a/c"]


level = st.sampled_from(["a", "b", "", "$x"])


@given(
    st.lists(st.lists(st.sampled_from(["a", "b", "+", ""]), min_size=1, max_size=4), max_size=6),
    st.lists(level, min_size=1, max_size=5),
    st.booleans(),
)
def test_router_agrees_with_matches(
    filters: list[list[str]], topic_levels: list[str], hash_end: bool
) -> None:
    router: Router[int] = Router()
    texts = ["/".join(f) + ("/#" if hash_end else "") for f in filters]
    for i, text in enumerate(texts):
        router.add(text, i)
    topic = "/".join(topic_levels)
    assert sorted(router.match(topic)) == [i for i, t in enumerate(texts) if matches(t, topic)]


@given(
    st.lists(st.sampled_from(["a", "b", "+"]), min_size=1, max_size=3),
    st.lists(st.sampled_from(["a", "b", "+"]), min_size=1, max_size=3),
    st.lists(st.sampled_from(["a", "b", "c"]), min_size=1, max_size=4),
)
def test_covers_is_sound(general: list[str], specific: list[str], topic: list[str]) -> None:
    """If ``general`` covers ``specific``, no topic matches ``specific`` but not ``general``."""
    g, s, t = "/".join(general), "/".join(specific), "/".join(topic)
    if covers(g, s) and matches(s, t):
        assert matches(g, t)


def test_channel_template_takes_levels_from_zero() -> None:
    tpl = Template.parse("{1}.{2}", "site/+/+/temperature")
    assert tpl.render(["site", "freezer-07", "cabinet", "temperature"]) == "freezer-07.cabinet"
    assert tpl.could_give("freezer-07.cabinet", "site/+/+/temperature")
    assert Template.parse("{1}.probe_{2}", "s/+/+").render(["s", "lab", "3"]) == "lab.probe_3"
    assert Template.parse("fr.{0}", "+/x").could_give("fr.x", "+/x")
    assert not Template.parse("fr.{0}", "a/x").could_give("fr.b", "a/x")


@pytest.mark.parametrize(
    ("template", "flt", "message"),
    [
        ("{4}.{1}", "site/+/+", "names level 4"),
        ("{1}.{2}", "site/+/#", "'#' level"),
        ("fixed.id", "site/+", "uses no topic level"),
        ("{1}.{x}", "site/+", "braces"),
    ],
)
def test_bad_templates_say_why(template: str, flt: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Template.parse(template, flt)
