"""The alarm engine: conditions, ISA-18.2 states, escalation, notification and acknowledgement."""
