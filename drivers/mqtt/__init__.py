"""MQTT driver: readings that devices or gateways push through a broker (docs/drivers.md, MQTT).

Modules, one job each: ``config`` (settings models), ``topics`` (filters, routing, channel
templates), ``payload`` (bytes -> value and device timestamp), ``timestamps`` (whether to
believe a device timestamp), ``client`` (the aiomqtt client with manual acks and a bounded
queue), ``health`` (status topic, broker drops, queue overflow -> availability and events),
``driver`` (connect, subscribe, receive, messages -> readings).
"""
