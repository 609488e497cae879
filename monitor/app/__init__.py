"""The application: the only place that wires the packages together (daemon, command line,
demo, status). Later floors for the web console and reports sit beside it, under it."""
