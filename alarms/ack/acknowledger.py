"""One place that decides whether an acknowledgement is allowed, for every path.

The paths only say who the request came from (a phone number, a person proven by the socket's
peer credentials, a person an API token acts for) and what it asks; here the PIN is
checked against the lockout, the comment required, the engine asked, and every refusal
recorded (:mod:`alarms.ack.refusals`). Nothing changes unless the engine records the
acknowledgement.

Several alarms at once (the SMS reply or the key press to a flood bundle's page): one PIN check
for the request, then each alarm acknowledged on its own, as if asked one by one, each with its
own history row (person, path, comment) or its own recorded refusal. One alarm that cannot be
acknowledged (a mistyped code, one acknowledged meanwhile) does not hold back the others; the
answer names what was not acknowledged first.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from alarms.ack.commands import AlarmCommands
from alarms.ack.lockout import PinLockout
from alarms.ack.refusals import Reason, Refusal, RefusalLog
from alarms.ack.sms_commands import SmsSyntaxError, parse_sms
from alarms.codes import parse_code
from alarms.model import AlarmCommandError, AlarmView
from alarms.notify.twiml import check_pin
from alarms.people import Directory, Person
from monitor.core.clock import Clock
from monitor.store.base import StoreError

log = logging.getLogger("alarms.ack")


@dataclass(frozen=True, slots=True)
class Missed:
    """One alarm of several that was not acknowledged, and why (``detail`` names it)."""

    target: str
    reason: Reason
    detail: str


@dataclass(frozen=True, slots=True)
class Outcome:
    """What happened, with a message fit for the person (SMS reply, spoken, CLI, JSON).

    For several alarms: ``acknowledged`` those that were, ``missed`` those that were not;
    ``ok`` only when all were; ``alarm`` the first acknowledged."""

    ok: bool
    message: str
    reason: Reason | None = None
    alarm: AlarmView | None = None
    person: Person | None = None
    locked: bool = False
    acknowledged: tuple[AlarmView, ...] = ()
    missed: tuple[Missed, ...] = ()

    @property
    def reply(self) -> str:
        """The answer to send back: the message, marked *Not acknowledged* when nothing was
        (a partial result's message starts with what was not)."""
        if self.ok or self.acknowledged:
            return self.message
        return f"Not acknowledged: {self.message}"


class Acknowledger:
    """Authenticates and acknowledges through ``commands`` (the daemon's engine)."""

    def __init__(
        self,
        commands: AlarmCommands,
        directory: Directory,
        clock: Clock,
        lockout: PinLockout,
        refusals: RefusalLog | None = None,
    ) -> None:
        self.commands = commands
        self.directory = directory
        self.clock = clock
        self.lockout = lockout
        self.refusals = refusals or RefusalLog()

    # --- who --------------------------------------------------------------------------------

    def people_with_phone(self, phone: str) -> list[Person]:
        """Everyone with this number (a shared on-call handset: the PIN tells them apart)."""
        return [p for p in self.directory.people.values() if p.phone and p.phone == phone]

    # --- the paths ----------------------------------------------------------------------------

    def sms(self, sender: str, body: str, via: str = "sms") -> Outcome:
        """``ACK A1007 <PIN> <comment>`` (or ``ACK A1007 A1015 <PIN> <comment>``) from
        ``sender``."""
        people = self.people_with_phone(sender)
        if not people:
            return self.refuse(
                via, sender, Reason.UNKNOWN_NUMBER, "this number is not registered with coldwatch"
            )
        named = people[0].id if len(people) == 1 else None
        try:
            command = parse_sms(body)
        except SmsSyntaxError as exc:
            return self.refuse(
                via,
                sender,
                exc.reason,
                str(exc),
                person=named,
                target=exc.code,
                targets=_several(exc.codes),
            )
        several = _several(command.named)
        found = self.check_pin(
            via, sender, sender, people, command.pin, command.code, targets=several
        )
        if isinstance(found, Outcome):
            return found
        if not several:
            return self.acknowledge(found, command.code, command.comment, via, sender)
        return self.acknowledge_all(
            found, command.codes, command.comment, via, sender, invalid=command.invalid
        )

    def check_pin(
        self,
        via: str,
        who: str,
        key: str,
        people: Sequence[Person],
        digits: str | None,
        target: str | None,
        *,
        targets: Sequence[str] = (),
    ) -> Person | Outcome:
        """The person whose PIN ``digits`` is, or the refusal (locked, wrong, none set).
        ``key`` is the lockout key: the phone number. ``targets``: every alarm the request
        names when it names several (recorded with a refusal); one PIN check for them all."""
        named = people[0].id if len(people) == 1 else None
        left = self.lockout.remaining(key)
        if left:
            minutes = max(1, round(left / 60))
            return self.refuse(
                via,
                who,
                Reason.LOCKED_OUT,
                f"too many wrong PINs from this phone; try again in {minutes} min "
                "or use another way to acknowledge",
                person=named,
                target=target,
                targets=targets,
                locked=True,
            )
        pins = [(p, _pin_of(p)) for p in people]
        if not any(pin for _, pin in pins):
            return self.refuse(
                via,
                who,
                Reason.NO_PIN,
                "no PIN is configured for you",
                person=named,
                target=target,
                targets=targets,
            )
        for person, pin in pins:
            if check_pin(digits, pin):
                self.lockout.succeeded(key)
                return person
        locked = self.lockout.failed(key)
        if locked:
            text = (
                f"wrong PIN; this phone is now locked for "
                f"{max(1, round(self.lockout.duration / 60))} min"
            )
        else:
            text = f"wrong PIN ({self.lockout.tries_left(key)} tries left)"
        return self.refuse(
            via,
            who,
            Reason.WRONG_PIN,
            text,
            person=named,
            target=target,
            targets=targets,
            locked=locked,
        )

    def acknowledge(self, person: Person, target: str, comment: str, via: str, who: str) -> Outcome:
        """Acknowledge as an authenticated ``person``; the engine records it or nothing."""
        comment = (comment or "").strip()
        if not comment:
            return self.refuse(
                via, who, Reason.NO_COMMENT, "a comment is required", person.id, target
            )
        try:
            view = self.commands.acknowledge(target, person.id, comment, via=via, origin=who)
        except AlarmCommandError as exc:
            reason, detail = self._why(target, str(exc))
            return self.refuse(via, who, reason, detail, person.id, target, comment=comment)
        except StoreError:
            log.exception("an acknowledgement could not be recorded")
            return self.refuse(
                via,
                who,
                Reason.STORE_ERROR,
                "the acknowledgement could not be recorded; nothing was changed, try again",
                person.id,
                target,
                comment=comment,
            )
        log.info(
            "alarm %s acknowledged by %s via %s (%s)",
            view.code or view.key,
            person.id,
            via,
            who,
            extra={"alarm": view.code, "person": person.id, "via": via},
        )
        label = view.code or target
        return Outcome(
            True,
            f"{label} acknowledged by {person.name}: {comment}",
            alarm=view,
            person=person,
            acknowledged=(view,),
        )

    def acknowledge_all(
        self,
        person: Person,
        targets: Sequence[str],
        comment: str,
        via: str,
        who: str,
        *,
        invalid: Sequence[str] = (),
    ) -> Outcome:
        """Acknowledge each of ``targets`` as an authenticated ``person``, one by one: each is
        recorded by the engine (its own history row: person, ``via``, comment) or refused and
        recorded on its own; ``invalid`` (codes whose check digit is wrong) are refused each.
        A single target is :meth:`acknowledge`."""
        targets = list(dict.fromkeys(targets))
        if len(targets) == 1 and not invalid:
            return self.acknowledge(person, targets[0], comment, via, who)
        comment = (comment or "").strip()
        named = [*targets, *invalid]
        if not comment:
            return self.refuse(
                via,
                who,
                Reason.NO_COMMENT,
                "a comment is required",
                person.id,
                named[0] if named else None,
                targets=named,
            )
        missed: list[Missed] = []
        for code in invalid:
            detail = f"{code} is not a valid alarm code (check digit)"
            self.refuse(via, who, Reason.UNKNOWN_ALARM, detail, person.id, code, comment=comment)
            missed.append(Missed(code, Reason.UNKNOWN_ALARM, detail))
        done: list[tuple[str, AlarmView]] = []
        for target in targets:
            outcome = self.acknowledge(person, target, comment, via, who)
            if outcome.ok and outcome.alarm is not None:
                done.append((outcome.alarm.code or target, outcome.alarm))
            else:
                detail = (
                    outcome.message if target in outcome.message else f"{target}: {outcome.message}"
                )
                missed.append(Missed(target, outcome.reason or Reason.UNAVAILABLE, detail))
        views = tuple(view for _, view in done)
        labels = ", ".join(label for label, _ in done)
        acked = f"{labels} acknowledged by {person.name}: {comment}" if done else ""
        if not missed:
            return Outcome(True, acked, alarm=views[0], person=person, acknowledged=views)
        not_done = "; ".join(m.detail for m in missed)
        if not done:
            return Outcome(False, not_done, missed[0].reason, person=person, missed=tuple(missed))
        return Outcome(
            False,
            f"NOT acknowledged: {not_done}. {acked}",
            missed[0].reason,
            alarm=views[0],
            person=person,
            acknowledged=views,
            missed=tuple(missed),
        )

    def acknowledge_as(
        self, person_id: str, target: str, comment: str, via: str, who: str
    ) -> Outcome:
        """Acknowledge as the person with ``person_id`` (proven by the caller: kernel, token)."""
        person = self.directory.person(person_id)
        if person is None:
            return self.refuse(
                via,
                who,
                Reason.UNKNOWN_PERSON,
                f"'{person_id}' is not a coldwatch person",
                target=target,
                comment=comment,
            )
        return self.acknowledge(person, target, comment, via, who)

    # --- refusals -----------------------------------------------------------------------------

    def refuse(
        self,
        via: str,
        who: str,
        reason: Reason,
        detail: str,
        person: str | None = None,
        target: str | None = None,
        *,
        comment: str | None = None,
        targets: Sequence[str] = (),
        locked: bool = False,
    ) -> Outcome:
        """Record a refusal and say so; nothing else happens."""
        self.refusals.record(
            Refusal(
                self.clock.now(),
                via,
                reason,
                who,
                detail,
                person,
                target,
                comment,
                tuple(targets),
            )
        )
        return Outcome(False, detail, reason, locked=locked)

    def _why(self, target: str, refused: str) -> tuple[Reason, str]:
        """Unknown alarm, or known but nothing to acknowledge: ``get`` tells the two apart
        (the engine calls a well-formed code it never issued "not open")."""
        try:
            self.commands.get(target)
        except AlarmCommandError as exc:
            code = parse_code(target)
            return Reason.UNKNOWN_ALARM, (str(exc) if code else refused)
        return Reason.NOT_ACKNOWLEDGEABLE, refused


def _several(codes: Sequence[str]) -> tuple[str, ...]:
    """``codes`` when there are several (recorded as a refusal's ``targets``), else ()."""
    return tuple(codes) if len(codes) > 1 else ()


def _pin_of(person: Person) -> str | None:
    try:
        return person.resolved_pin()
    except ValueError as exc:  # a PIN file gone missing: that person cannot use a PIN now
        log.error("the PIN of %s cannot be read: %s", person.id, exc)
        return None
