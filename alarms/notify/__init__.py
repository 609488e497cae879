"""Notifiers and delivery: how an alarm reaches a person (SMS, call, e-mail, chat, horn).

``Delivery`` (in :mod:`alarms.notify.delivery`) is the entry point for the escalation layer;
``docs/notifiers.md`` describes the settings, the message formats and the guarantees.
"""

from alarms.notify.base import DeliveryResult, Notifier, NotifyError
from alarms.notify.delivery import Delivery, Outcome, RetryPolicy
from alarms.notify.message import Notification
from alarms.notify.notification_log import LogRecord, MemoryLog, NotificationLog

__all__ = [
    "Delivery",
    "DeliveryResult",
    "LogRecord",
    "MemoryLog",
    "Notification",
    "NotificationLog",
    "Notifier",
    "NotifyError",
    "Outcome",
    "RetryPolicy",
]
