"""The HTTP server's log lines as the daemon's: without uvicorn's terminal colours, and its
warnings and errors rate-limited: a client sending garbage (or tripping the same bug) over and
over gets one log line a minute per kind, with the count held back.

uvicorn logs every malformed request ("Invalid HTTP request received.") and every failure of
the app at warning or error level, one line each: unbounded, a flood could bury what matters
in the daemon's log.
"""

from __future__ import annotations

import logging
import traceback

from monitor.core.logs import RateLimiter

#: The logger uvicorn reports malformed requests and the app's failures on.
SERVER_LOGGER = "uvicorn.error"


class RateLimitedServerLog(logging.Filter):
    """One record a minute per kind (message, exception type and where it was raised) at
    warning and above; the next one let through says how many were held back."""

    def __init__(self, interval: float = 60.0) -> None:
        super().__init__()
        self.limiter = RateLimiter(interval, max_keys=1000)
        self.held_back = 0

    def filter(self, record: logging.LogRecord) -> bool:
        # uvicorn's terminal colours would land in the daemon's JSON lines as a field
        record.__dict__.pop("color_message", None)
        if record.levelno < logging.WARNING:
            return True
        allowed, suppressed = self.limiter.allow(_kind(record))
        if not allowed:
            self.held_back += 1
            return False
        if suppressed:
            record.msg = f"{record.msg} ({suppressed} more like it in the last minute not logged)"
        return True

    def install(self) -> None:
        logging.getLogger(SERVER_LOGGER).addFilter(self)

    def remove(self) -> None:
        logging.getLogger(SERVER_LOGGER).removeFilter(self)


def _kind(record: logging.LogRecord) -> str:
    kind = str(record.msg)
    if record.exc_info and record.exc_info[1] is not None:
        exc = record.exc_info[1]
        frames = traceback.extract_tb(exc.__traceback__)
        where = f"{frames[-1].filename}:{frames[-1].lineno}" if frames else ""
        kind += f"|{type(exc).__name__}|{where}"
    return kind
