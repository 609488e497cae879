"""Acknowledgement from every channel a technician has at 3 a.m.: SMS reply, key press on a
call, the command line (and an API token on the web console); all through the daemon's engine,
the one writer of alarm state (:class:`~alarms.ack.commands.AlarmCommands`), and all refusals
recorded.

``docs/acknowledgement.md`` describes each path, its security and its configuration.
"""

from alarms.ack.acknowledger import Acknowledger, Outcome
from alarms.ack.commands import AlarmCommands
from alarms.ack.lockout import PinLockout
from alarms.ack.refusals import Reason, Refusal, RefusalLog

__all__ = [
    "Acknowledger",
    "AlarmCommands",
    "Outcome",
    "PinLockout",
    "Reason",
    "Refusal",
    "RefusalLog",
]
