"""What the alarms keep in the store: the alarm history, the notification log, the escalation
record and the PIN lockout log. The only part of ``alarms`` that talks to the store's tables."""
