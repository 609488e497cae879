"""coldwatch: the monitor in floors (core, config, store, runtime, app); docs/architecture.md."""

__version__ = "0.1.0"
