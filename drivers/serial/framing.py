"""Cutting a byte stream into frames, in bounded memory, the same however it was chunked.

Serial reads return whatever bytes happen to be there: half a frame, three frames, a frame
and a half. :class:`Framer` gives the frames of the stream regardless of chunking:

* on a terminator, the frames are exactly ``stream.split(terminator)`` minus the unfinished
  last piece, leaving out any piece longer than ``max_frame``;
* with a fixed length, every ``length`` bytes are one frame.

A device (or a line with the wrong baudrate) that sends garbage without ever sending the
terminator must not grow memory: once the unfinished piece is longer than ``max_frame`` it
is discarded and counted, and so is the rest of it up to the next terminator, so that the
tail of a garbage run is never mistaken for a frame.
"""

from __future__ import annotations


class Framer:
    """Incremental framing; :meth:`feed` returns the frames completed by each chunk."""

    def __init__(
        self, *, terminator: bytes = b"", length: int | None = None, max_frame: int = 4096
    ) -> None:
        if length is None and not terminator:
            raise ValueError("a framer needs a terminator or a length")
        self.terminator = terminator
        self.length = length
        self.max_frame = max_frame
        self.overflows = 0
        """Frames dropped because they were longer than ``max_frame``."""
        self.discarded = 0
        """Bytes dropped with those frames."""
        self._buf = bytearray()
        self._skipping = False

    @property
    def buffered(self) -> int:
        return len(self._buf)

    def reset(self) -> None:
        """Forget a partial frame (after reconnecting, it belongs to nothing)."""
        self._buf.clear()
        self._skipping = False

    def feed(self, data: bytes) -> list[bytes]:
        self._buf += data
        if self.length is not None:
            return self._fixed(self.length)
        return self._terminated()

    def _fixed(self, length: int) -> list[bytes]:
        buf = self._buf
        whole = len(buf) - len(buf) % length
        frames = [bytes(buf[i : i + length]) for i in range(0, whole, length)]
        del buf[:whole]
        return frames

    def _terminated(self) -> list[bytes]:
        buf, term = self._buf, self.terminator
        frames: list[bytes] = []
        start = 0
        while (end := buf.find(term, start)) >= 0:
            size = end - start
            if self._skipping or size > self.max_frame:
                if not self._skipping:
                    self.overflows += 1
                self.discarded += size
                self._skipping = False
            else:
                frames.append(bytes(buf[start:end]))
            start = end + len(term)
        del buf[:start]
        keep = len(term) - 1
        # a frame of max_frame bytes may wait for the rest of a terminator split across reads
        if len(buf) > self.max_frame + keep:
            # Keep only what could be the start of a terminator split across reads.
            if not self._skipping:
                self.overflows += 1
            self.discarded += len(buf) - keep
            del buf[: len(buf) - keep]
            self._skipping = True
        return frames


def clean(frame: bytes, strip: bytes = b"", trim: bool = True) -> str:
    """A frame as text: junk bytes deleted, surrounding whitespace trimmed, one character
    per byte (Latin-1 never fails to decode, whatever the line delivers)."""
    if strip:
        frame = frame.translate(None, strip)
    text = frame.decode("latin-1")
    return text.strip() if trim else text
