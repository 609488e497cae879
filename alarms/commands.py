"""The alarm engine's commands: what people do to alarms, each on the record or not at all.

``acknowledge``, ``reset``, ``shelve``, ``unshelve``, ``set_out_of_service``,
``return_to_service``: each is recorded before it returns, or refused (:class:`StoreError`)
and undone, so that nothing takes effect without its record. :class:`EngineCommands`, with the
queries it extends (:mod:`alarms.queries`), is the :class:`~alarms.ack.commands.AlarmCommands`
the acknowledgement paths need; the engine (:mod:`alarms.engine`) offers the same methods.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime, timedelta

from alarms.codes import parse_code
from alarms.engine_parts import MAX_TEXT, EngineParts
from alarms.model import Action, AlarmCommandError, AlarmView, Announcement
from alarms.point import AlarmPoint, Hold
from alarms.queries import AlarmQueries
from monitor.store.base import StoreError


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
    ) -> AlarmView:
        """Acknowledge an alarm (UNACK -> ACKED, RTN_UNACK -> NORMAL, LATCHED_UNACK ->
        LATCHED_ACKED); ``comment`` is required. ``origin``: what authenticated the person on
        that path (the OS user, the phone number), kept with the record."""
        person, comment = required(person, "person"), required(comment, "comment")
        point = self._open_point(target)
        life = self.parts.life
        return self._command([point], lambda: life.acknowledge(point, person, comment, via, origin))

    def reset(self, target: str, person: str, comment: str, via: str | None = None) -> AlarmView:
        """Reset a latched, acknowledged alarm whose condition has cleared."""
        person, comment = required(person, "person"), required(comment, "comment")
        point = self._open_point(target)
        life = self.parts.life
        return self._command([point], lambda: life.reset(point, person, comment, via))

    def shelve(
        self,
        target: str,
        person: str,
        reason: str,
        until: datetime | timedelta,
        via: str | None = None,
    ) -> list[AlarmView]:
        """Shelve an alarm (code or key), every alarm of an equipment, or of a device, until
        ``until`` (at most ``alarms.max_shelve`` ahead); ``reason`` is required."""
        longest = self.parts.life.settings.max_shelve
        return self._hold(
            target, person, reason, until, via, "shelve", Action.SHELVED, longest, "a shelve"
        )

    def _hold(
        self,
        target: str,
        person: str,
        reason: str,
        until: datetime | timedelta,
        via: str | None,
        hold: str,
        action: Action,
        longest: float,
        what: str,
    ) -> list[AlarmView]:
        """Hide alarms until ``until``, at most ``longest`` seconds ahead: a shelve or a
        maintenance window (``hold`` names the point's attribute, ``what`` the period)."""
        person, reason = required(person, "person"), required(reason, "reason")
        end = self._until(until, longest, what)
        points = self._targets(target)
        held = Hold(end, person, reason)
        life = self.parts.life
        return self._commands(points, lambda p: life.hide(p, action, held, hold, via))

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

        return self._commands(points, release)

    def set_out_of_service(
        self,
        target: str,
        person: str,
        reason: str,
        until: datetime | timedelta,
        via: str | None = None,
    ) -> list[AlarmView]:
        """Take alarms out of service for maintenance until ``until`` (never indefinitely: at
        most ``alarms.max_out_of_service`` ahead); ``reason`` is required."""
        longest = self.parts.life.settings.max_out_of_service
        action = Action.OUT_OF_SERVICE
        return self._hold(
            target, person, reason, until, via, "out_of_service", action, longest, "maintenance"
        )

    def return_to_service(
        self, target: str, person: str, comment: str | None = None, via: str | None = None
    ) -> list[AlarmView]:
        return self._release(
            target,
            person,
            comment,
            via,
            "out_of_service",
            Action.RETURNED_TO_SERVICE,
            "out of service",
        )

    # --- command plumbing ------------------------------------------------------------------------

    def _command(self, points: list[AlarmPoint], action: Callable[[], None]) -> AlarmView:
        return self._transaction(points, action)[0]

    def _commands(
        self, points: list[AlarmPoint], action: Callable[[AlarmPoint], None]
    ) -> list[AlarmView]:
        def each() -> None:
            for point in points:
                action(point)

        return self._transaction(points, each)

    def _transaction(self, points: list[AlarmPoint], action: Callable[[], None]) -> list[AlarmView]:
        """Run a command so that it takes effect only with its record."""
        journal = self.parts.journal
        self.flush()
        if journal.pending:
            raise StoreError("the alarm history cannot be written now; nothing was changed")
        saved = [(p, p.view(), list(p.activations), dict(p.suppressed_by)) for p in points]
        try:
            action()
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


def required(text: str, what: str) -> str:
    """``text`` stripped and cut to :data:`MAX_TEXT`; refused when empty."""
    cleaned = (text or "").strip()
    if not cleaned:
        raise AlarmCommandError(f"a {what} is required")
    return cleaned[:MAX_TEXT]


def optional(text: str | None) -> str | None:
    cleaned = (text or "").strip()
    return cleaned[:MAX_TEXT] or None
