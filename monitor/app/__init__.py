"""The application: the only place that wires the packages together (daemon, command line,
demo, status, and the web console the daemon serves, in ``web/``)."""
