"""Device drivers: small plugins that only talk to equipment. See ``drivers.base``."""
