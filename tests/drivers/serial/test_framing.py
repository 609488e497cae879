"""Framing a serial byte stream (drivers/serial/framing.py): however it is chunked it yields the
same frames in bounded memory (property-based); garbage is discarded and counted."""

from __future__ import annotations

import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

from drivers.serial.framing import Framer, clean


def reference_frames(stream: bytes, terminator: bytes, max_frame: int) -> list[bytes]:
    return [p for p in stream.split(terminator)[:-1] if len(p) <= max_frame]


def chunked(stream: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(stream) + 1) for c in cuts} | {0, len(stream)})
    return [stream[a:b] for a, b in itertools.pairwise(points)]


# Streams rich in terminator bytes and their prefixes, so that splits land everywhere.
streams = st.lists(
    st.sampled_from([b"\x04", b"\r", b"\n", b"\r\n", b"\x00", b"-80 C ", b"x", b"T_ERR"])
    | st.binary(max_size=40),
    max_size=60,
).map(b"".join)


@settings(max_examples=300, deadline=None)
@given(
    stream=streams,
    cuts=st.lists(st.integers(min_value=0, max_value=4000), max_size=30),
    terminator=st.sampled_from([b"\x04", b"\n", b"\r\n", b"\n\r\x04", b"\r\r"]),
    max_frame=st.integers(min_value=1, max_value=64),
)
def test_any_chunking_gives_the_same_frames_in_bounded_memory(
    stream: bytes, cuts: list[int], terminator: bytes, max_frame: int
) -> None:
    framer = Framer(terminator=terminator, max_frame=max_frame)
    frames: list[bytes] = []
    for chunk in chunked(stream, cuts):
        frames += framer.feed(chunk)
        assert framer.buffered <= max_frame + len(terminator) - 1
    assert frames == reference_frames(stream, terminator, max_frame)


@settings(max_examples=200, deadline=None)
@given(
    stream=st.binary(max_size=300),
    cuts=st.lists(st.integers(min_value=0, max_value=300), max_size=20),
    length=st.integers(min_value=1, max_value=40),
)
def test_fixed_length_frames_do_not_depend_on_chunking(
    stream: bytes, cuts: list[int], length: int
) -> None:
    framer = Framer(length=length)
    frames = [f for chunk in chunked(stream, cuts) for f in framer.feed(chunk)]
    whole = len(stream) - len(stream) % length
    assert frames == [stream[i : i + length] for i in range(0, whole, length)]
    assert framer.buffered == len(stream) % length


def test_garbage_without_terminator_is_discarded_and_counted() -> None:
    framer = Framer(terminator=b"\x04", max_frame=4096)
    for _ in range(100):  # 1 MiB of noise, as a line at the wrong baudrate might give
        assert framer.feed(b"\xff\x13" * 5120) == []
        assert framer.buffered <= 4096
    # the rest of the garbage run, up to its terminator, is dropped too; then framing resumes
    assert framer.feed(b"tail of noise\x04- -80 C \x04") == [b"- -80 C "]
    assert framer.overflows == 1
    assert framer.discarded == 100 * 10240 + len(b"tail of noise")


def test_clean_strips_junk_and_whitespace() -> None:
    raw = b"\x00- -80 C UNDERTEMP \n\r"
    assert clean(raw, b"\x00") == "- -80 C UNDERTEMP"
    assert clean(raw, b"\x00", trim=False) == "- -80 C UNDERTEMP \n\r"
    assert clean(b"\xb0C") == "\u00b0C"  # any byte decodes
