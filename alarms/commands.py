"""The alarm engine's commands: what people do to alarms, each on the record or not at all.

``acknowledge``, ``reset``, ``shelve``, ``unshelve``, ``set_out_of_service``,
``return_to_service``: each is recorded before it returns, or refused (:class:`StoreError`)
and undone, so that nothing takes effect without its record. :meth:`EngineCommands.signed`
runs one of them with an electronic signature (:class:`monitor.core.esign.Signature`, made by
the signing service): each history row the command writes carries it, and the store writes the
signature bound to that row in the row's own transaction. :class:`EngineCommands`, with the
queries it extends (:mod:`alarms.queries`), is the :class:`~alarms.ack.commands.AlarmCommands`
the acknowledgement paths need; the engine (:mod:`alarms.engine`) offers the same methods.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import replace
from datetime import datetime, timedelta

from alarms.codes import parse_code
from alarms.engine_parts import MAX_TEXT, EngineParts
from alarms.model import Action, AlarmCommandError, AlarmView, Announcement
from alarms.point import AlarmPoint, Hold
from alarms.queries import AlarmQueries
from monitor.core.esign import RECORD_ACTION, Signature
from monitor.store.base import AlarmRecord, StoreError


class EngineCommands(AlarmQueries):
    """Commands on the lifecycle's points, each in its own transaction of the alarm history,
    with the queries (:class:`AlarmQueries`) that people giving them need.

    ``flush`` commits what the engine has queued (so that a command starts from a clean
    journal); ``deliver`` hands a command's announcements to the engine's subscribers."""

    def __init__(
        self,
        parts: EngineParts,
        flush: Callable[[], None],
        deliver: Callable[[Iterable[Announcement]], None],
    ) -> None:
        super().__init__(parts)
        self.flush = flush
        self.deliver = deliver

    # --- commands --------------------------------------------------------------------------------

    def acknowledge(
        self,
        target: str,
        person: str,
        comment: str,
        via: str | None = None,
        origin: str | None = None,
        *,
        signature: Signature | None = None,
    ) -> AlarmView:
        """Acknowledge an alarm (UNACK -> ACKED, RTN_UNACK -> NORMAL, LATCHED_UNACK ->
        LATCHED_ACKED); ``comment`` is required. ``origin``: what authenticated the person on
        that path (the OS user, the phone number), kept with the record."""
        person, comment = required(person, "person"), required(comment, "comment")
        point = self._open_point(target)
        life = self.parts.life
        return self._command(
            [point], lambda: life.acknowledge(point, person, comment, via, origin), signature
        )

    def reset(
        self,
        target: str,
        person: str,
        comment: str,
        via: str | None = None,
        *,
        signature: Signature | None = None,
    ) -> AlarmView:
        """Reset a latched, acknowledged alarm whose condition has cleared."""
        person, comment = required(person, "person"), required(comment, "comment")
        point = self._open_point(target)
        life = self.parts.life
        return self._command([point], lambda: life.reset(point, person, comment, via), signature)

    def shelve(
        self,
        target: str,
        person: str,
        reason: str,
        until: datetime | timedelta,
        via: str | None = None,
        *,
        signature: Signature | None = None,
    ) -> list[AlarmView]:
        """Shelve an alarm (code or key), every alarm of an equipment, or of a device, until
        ``until`` (at most ``alarms.max_shelve`` ahead); ``reason`` is required."""
        longest = self.parts.life.settings.max_shelve
        return self._hold(
            target,
            person,
            reason,
            until,
            via,
            ("shelve", Action.SHELVED, longest, "a shelve"),
            signature,
        )

    def _hold(
        self,
        target: str,
        person: str,
        reason: str,
        until: datetime | timedelta,
        via: str | None,
        kind: tuple[str, Action, float, str],
        signature: Signature | None,
    ) -> list[AlarmView]:
        """Hide alarms until ``until``, at most ``longest`` seconds ahead: a shelve or a
        maintenance window (``kind``: the point's attribute, the action, ``longest``, and
        what the period is called)."""
        hold, action, longest, what = kind
        person, reason = required(person, "person"), required(reason, "reason")
        end = self._until(until, longest, what)
        points = self._targets(target)
        held = Hold(end, person, reason)
        life = self.parts.life
        return self._commands(points, lambda p: life.hide(p, action, held, hold, via), signature)

    def unshelve(
        self, target: str, person: str, comment: str | None = None, via: str | None = None
    ) -> list[AlarmView]:
        return self._release(target, person, comment, via, "shelve", Action.UNSHELVED, "shelved")

    def _release(
        self,
        target: str,
        person: str,
        comment: str | None,
        via: str | None,
        hold: str,
        action: Action,
        what: str,
        signature: Signature | None = None,
    ) -> list[AlarmView]:
        """End a shelve or a maintenance window (``hold`` names the point's attribute) early."""
        person = required(person, "person")
        points = [p for p in self._targets(target) if getattr(p, hold) is not None]
        if not points:
            raise AlarmCommandError(f"nothing {what} for '{target}'")

        def release(point: AlarmPoint) -> None:
            previous = point.state
            setattr(point, hold, None)
            self.parts.life.leave_hidden(
                point,
                self.parts.clock.now(),
                action,
                previous,
                person=person,
                via=via,
                comment=optional(comment),
            )

        return self._commands(points, release, signature)

    def set_out_of_service(
        self,
        target: str,
        person: str,
        reason: str,
        until: datetime | timedelta,
        via: str | None = None,
        *,
        signature: Signature | None = None,
    ) -> list[AlarmView]:
        """Take alarms out of service for maintenance until ``until`` (never indefinitely: at
        most ``alarms.max_out_of_service`` ahead); ``reason`` is required."""
        longest = self.parts.life.settings.max_out_of_service
        kind = ("out_of_service", Action.OUT_OF_SERVICE, longest, "maintenance")
        return self._hold(target, person, reason, until, via, kind, signature)

    def return_to_service(
        self,
        target: str,
        person: str,
        comment: str | None = None,
        via: str | None = None,
        *,
        signature: Signature | None = None,
    ) -> list[AlarmView]:
        return self._release(
            target,
            person,
            comment,
            via,
            "out_of_service",
            Action.RETURNED_TO_SERVICE,
            "out of service",
            signature,
        )

    def signed(
        self,
        target: str,
        person: str,
        signature: Signature,
        *,
        until: datetime | timedelta | None = None,
        via: str = "web",
    ) -> list[AlarmView]:
        """Run the command ``signature.action`` names (acknowledge, shelve, out_of_service,
        return_to_service, reset) on ``target``, signed: every history row it writes carries
        ``signature`` and commits with it, or the command is refused and undone. The
        signature's comment is the command's comment or reason; ``until`` ends a shelve or a
        maintenance window."""
        action, comment = signature.action, signature.comment
        if action in ("shelve", "out_of_service"):
            if until is None:
                raise AlarmCommandError(f"{action.replace('_', ' ')} needs an end time")
            hold = self.shelve if action == "shelve" else self.set_out_of_service
            return hold(target, person, comment, until, via, signature=signature)
        if action == "acknowledge":
            return [self.acknowledge(target, person, comment, via, signature=signature)]
        if action == "reset":
            return [self.reset(target, person, comment, via, signature=signature)]
        if action == "return_to_service":
            return self.return_to_service(target, person, comment, via, signature=signature)
        raise AlarmCommandError(f"{action!r} is not an alarm command that is signed")

    # --- command plumbing ------------------------------------------------------------------------

    def _command(
        self,
        points: list[AlarmPoint],
        action: Callable[[], None],
        signature: Signature | None = None,
    ) -> AlarmView:
        return self._transaction(points, action, signature)[0]

    def _commands(
        self,
        points: list[AlarmPoint],
        action: Callable[[AlarmPoint], None],
        signature: Signature | None = None,
    ) -> list[AlarmView]:
        def each() -> None:
            for point in points:
                action(point)

        return self._transaction(points, each, signature)

    def _transaction(
        self,
        points: list[AlarmPoint],
        action: Callable[[], None],
        signature: Signature | None = None,
    ) -> list[AlarmView]:
        """Run a command so that it takes effect only with its record (and its signature)."""
        journal = self.parts.journal
        self.flush()
        if journal.pending:
            raise StoreError("the alarm history cannot be written now; nothing was changed")
        saved = [(p, p.view(), list(p.activations), dict(p.suppressed_by)) for p in points]
        try:
            action()
            if signature is not None:
                _sign_pending(journal.pending, {p.key for p in points}, signature)
            announcements = journal.flush(strict=True)
        except BaseException:
            journal.discard()
            for point, view, activations, suppressed in saved:
                point.load(view, activations)
                point.suppressed_by = suppressed
            life = self.parts.life
            life.codes = {p.code: p for p in life.points.values() if p.code is not None}
            raise
        self.deliver(announcements)
        return [p.view() for p in points]

    def _open_point(self, target: str) -> AlarmPoint:
        life = self.parts.life
        code = parse_code(target)
        if code is not None:
            point = life.codes.get(code)
            if point is None or point.code != code:  # never another occurrence of the alarm
                raise AlarmCommandError(f"alarm {code} is not open (already back to NORMAL)")
            return point
        point = life.points.get(target)
        if point is None:
            if target.strip().upper().startswith("A") and target.strip()[1:].isdigit():
                raise AlarmCommandError(f"'{target}' is not a valid alarm code (check digit)")
            raise AlarmCommandError(f"no alarm '{target}'")
        return point

    def _targets(self, target: str) -> list[AlarmPoint]:
        """Alarms by code, key, equipment id or device id."""
        life = self.parts.life
        code = parse_code(target)
        if code is not None and code in life.codes and life.codes[code].code == code:
            return [life.codes[code]]
        if target in life.points:
            return [life.points[target]]
        found = [
            p
            for p in life.points.values()
            if target in p.rule.equipment_ids or target in p.rule.devices
        ]
        if not found:
            raise AlarmCommandError(f"no alarm, equipment or device '{target}'")
        return found

    def _until(self, until: datetime | timedelta, longest: float, what: str) -> datetime:
        now = self.parts.clock.now()
        end = now + until if isinstance(until, timedelta) else until
        if end.tzinfo is None:
            raise AlarmCommandError("the end time needs a time zone")
        if end <= now:
            raise AlarmCommandError(f"the end of {what} must be in the future")
        if (end - now).total_seconds() > longest + 1e-6:
            raise AlarmCommandError(
                f"{what} may last at most {longest / 3600:g} h (alarms configuration)"
            )
        return end


def _sign_pending(pending: list[AlarmRecord], keys: set[str], signature: Signature) -> None:
    """Put ``signature`` into the command's own rows (its action, its alarms) in ``pending``;
    refuse when the command wrote none (nothing would carry the signature)."""
    action = RECORD_ACTION.get(signature.action)
    signed = 0
    for index, record in enumerate(pending):
        if record.action == action and record.key in keys:
            data = {**record.data, "signature": signature.to_json()}
            pending[index] = replace(record, data=data)
            signed += 1
    if not signed:
        raise AlarmCommandError(f"nothing to sign: the {signature.action} wrote no record")


def required(text: str, what: str) -> str:
    """``text`` stripped and cut to :data:`MAX_TEXT`; refused when empty."""
    cleaned = (text or "").strip()
    if not cleaned:
        raise AlarmCommandError(f"a {what} is required")
    return cleaned[:MAX_TEXT]


def optional(text: str | None) -> str | None:
    cleaned = (text or "").strip()
    return cleaned[:MAX_TEXT] or None
