"""The ISA-18.2 state machine of one alarm, as a table: the reference's transitions, nothing else.

Only the six base states are here. SHELVED, SUPPRESSED and OUT_OF_SERVICE hide an alarm without
stopping its base state machine (everything is still recorded); leaving them puts the alarm in
UNACK or NORMAL by its current condition (:func:`after_hiding`).
"""

from __future__ import annotations

import enum

from alarms.model import AlarmCommandError, AlarmState

S = AlarmState


class Trigger(enum.StrEnum):
    ACTIVATE = "activate"  # the condition becomes true (after its on-delay)
    CLEAR = "clear"  # the condition clears, non-latching rule
    CLEAR_LATCHING = "clear_latching"  # the condition clears, latching rule
    ACK = "ack"
    RESET = "reset"
    REALARM = "realarm"  # severity rises, or the re-alarm time passes while still active


TABLE: dict[tuple[AlarmState, Trigger], AlarmState] = {
    (S.NORMAL, Trigger.ACTIVATE): S.UNACK,
    (S.UNACK, Trigger.ACK): S.ACKED,
    (S.UNACK, Trigger.CLEAR): S.RTN_UNACK,
    (S.UNACK, Trigger.CLEAR_LATCHING): S.LATCHED_UNACK,
    (S.UNACK, Trigger.REALARM): S.UNACK,
    (S.ACKED, Trigger.CLEAR): S.NORMAL,
    (S.ACKED, Trigger.CLEAR_LATCHING): S.LATCHED_ACKED,
    (S.ACKED, Trigger.REALARM): S.UNACK,
    (S.RTN_UNACK, Trigger.ACK): S.NORMAL,
    (S.RTN_UNACK, Trigger.ACTIVATE): S.UNACK,
    (S.LATCHED_UNACK, Trigger.ACK): S.LATCHED_ACKED,
    (S.LATCHED_ACKED, Trigger.RESET): S.NORMAL,
    # Not in the reference: a latched alarm whose condition recurs is as unacknowledged as a
    # returned one (RTN_UNACK -> UNACK).
    (S.LATCHED_UNACK, Trigger.ACTIVATE): S.UNACK,
    (S.LATCHED_ACKED, Trigger.ACTIVATE): S.UNACK,
}

BASE_STATES = frozenset({S.NORMAL, S.UNACK, S.ACKED, S.RTN_UNACK, S.LATCHED_UNACK, S.LATCHED_ACKED})


def step(state: AlarmState, trigger: Trigger) -> AlarmState | None:
    """The next base state, or None when the trigger does not apply in this state."""
    return TABLE.get((state, trigger))


def acknowledge(state: AlarmState, code: str) -> AlarmState:
    nxt = step(state, Trigger.ACK)
    if nxt is None:
        raise AlarmCommandError(f"alarm {code} is {state.value}: nothing to acknowledge")
    return nxt


def reset(state: AlarmState, code: str) -> AlarmState:
    if state is S.LATCHED_UNACK:
        raise AlarmCommandError(f"alarm {code} must be acknowledged before it can be reset")
    nxt = step(state, Trigger.RESET)
    if nxt is None:
        raise AlarmCommandError(f"alarm {code} is {state.value}: only a latched alarm is reset")
    return nxt


def after_hiding(active: bool) -> AlarmState:
    """Leaving SHELVED, SUPPRESSED or OUT_OF_SERVICE: by the current condition."""
    return S.UNACK if active else S.NORMAL


def displayed(
    base: AlarmState, out_of_service: bool, shelved: bool, suppressed: bool
) -> AlarmState:
    """The one state shown: maintenance hides most, then a shelve, then design suppression."""
    if out_of_service:
        return S.OUT_OF_SERVICE
    if shelved:
        return S.SHELVED
    if suppressed:
        return S.SUPPRESSED
    return base
