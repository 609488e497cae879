"""Loading configuration: YAML with line numbers, includes, the sections every part shares
(site, rooms, equipment, channels, devices, store, logging) and the error format. Each part
validates its own sections; the application gathers them into one root model."""
