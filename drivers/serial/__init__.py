"""Serial line-protocol driver: query/response devices and devices that push frames.

Configured entirely in YAML: no code per device model. One module per job: ``config`` (typed
settings, checked at load time), ``escapes`` (``\\r\\n`` and friends in YAML strings),
``framing`` (bytes to frames, bounded), ``patterns`` (frames to values, faults and events),
``port`` (one shared, locked connection per port: a device path or ``socket://host:port``)
and ``driver`` (the polled query driver, the streaming push driver, and ``SerialDriver``,
the one registry name that builds the right one from ``mode``).
"""
