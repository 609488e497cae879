"""coldwatch core: configuration, domain model, coordinator, pipeline, store and command line."""

__version__ = "0.1.0"
