"""``coldwatch route-test``: who would be paged for an alarm, over which channel, at which
minute, without sending anything.

The answer is computed by the same code that pages (the compiled alarm rules, the router, the
policy's steps, the schedules' ``on_call``), so a route-test that looks right is the escalation
that will run: tier times, the repeats up to the cap and then the last tier continuing, each
person's channels in fallback order, whoever is on call at each step's time (a hand-off during
the escalation shows), and the first page as the SMS will read, SOP included.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from alarms.escalation.config import PagingConfig, RouteMatch
from alarms.escalation.messages import notification_for
from alarms.escalation.policy import Choice, Policy, Step, minutes
from alarms.escalation.setup import Setup, build_setup
from alarms.model import AlarmState, AlarmView, ConditionKind, Level, Priority
from alarms.notify.sms import compose_sms

if TYPE_CHECKING:
    from alarms.rules import Rule
    from alarms.site import AlarmSite

EXAMPLE_CODE = "A0000"


class RouteTestError(ValueError):
    """The channel, key or condition does not name an alarm; the message says what does."""


@dataclass(frozen=True)
class Case:
    """One alarm the question names: its rule, level and the view a page would be built of."""

    rule: Rule
    level: Level | None
    view: AlarmView


@dataclass(frozen=True)
class Recipient:
    person_id: str
    name: str
    channels: tuple[str, ...]
    target: str
    """The tier's target that names this person (``schedule:ult-oncall``, ``group:qa``)."""


@dataclass(frozen=True)
class PlannedPage:
    step: Step
    offset: float
    """Seconds after the alarm is raised."""
    at: datetime
    recipients: tuple[Recipient, ...]


@dataclass(frozen=True)
class RoutePlan:
    case: Case
    choice: Choice
    policy: Policy
    start: datetime
    pages: tuple[PlannedPage, ...]
    timezone: str
    sms: str


def find_cases(config: AlarmSite, target: str, condition: str | None) -> list[Case]:
    """The alarms ``target`` (a channel id ``<equipment>.<channel>``, a channel id alone if
    unique, an alarm key, or a device id) raises for ``condition`` (a level
    ``high``/``high_high``/..., a condition ``stale``/``rate``/``comm_loss``/..., or a rule id
    ``door_open``)."""
    if config.alarms is None:
        raise RouteTestError("the configuration has no alarms: section")
    from alarms.rules import compile_rules

    ruleset = compile_rules(config)
    if ruleset.issues:
        raise RouteTestError("the alarms configuration has errors: run check-config first")
    rules = ruleset.by_key()
    wanted = "_".join((condition or "").strip().lower().replace("-", " ").split()) or None
    if "/" in target:
        rule = rules.get(target)
        if rule is None:
            close = sorted(key for key in rules if key.startswith(target.split("/")[0] + "/"))
            raise RouteTestError(
                f"no alarm '{target}'" + (f" (alarms there: {', '.join(close)})" if close else "")
            )
        candidates = [rule]
    elif target in {device.id for device in config.devices}:  # a device: its communication loss
        candidates = [rule for rule in rules.values() if rule.source == target]
    else:
        channel_id = _channel(config, target)
        device = config.channels()[channel_id][1].source.device
        candidates = [rule for rule in rules.values() if rule.source == channel_id]
        comm_loss = rules.get(f"{device}/comm_loss")
        if comm_loss is not None:
            candidates.append(comm_loss)
    cases = [case for rule in candidates for case in _cases(rule, wanted)]
    if not cases:
        offered = ", ".join(_offers(candidates)) or "none"
        raise RouteTestError(f"no alarm for '{target}' with condition '{condition}' ({offered})")
    return cases


def _channel(config: AlarmSite, target: str) -> str:
    channels = config.channels()
    if target in channels:
        return target
    found = [cid for cid in channels if cid.split(".", 1)[1] == target]
    if len(found) == 1:
        return found[0]
    if found:
        raise RouteTestError(f"channel '{target}' is ambiguous: {', '.join(sorted(found))}")
    raise RouteTestError(
        f"no channel '{target}' (write <equipment>.<channel>, e.g. "
        f"{next(iter(channels), 'freezer-07.cabinet_temp')}, or an alarm key)"
    )


def _cases(rule: Rule, wanted: str | None) -> list[Case]:
    if rule.kind is ConditionKind.LIMIT:
        levels = list(rule.limits)
        if wanted is not None and wanted in Level.__members__.values():
            levels = [lvl for lvl in levels if lvl.value == wanted]
        elif wanted is not None and wanted not in (rule.rule_id, rule.kind.value):
            return []
        return [_case(rule, lvl) for lvl in levels]
    if wanted is None or wanted in (rule.rule_id, rule.kind.value):
        return [_case(rule, None)]
    return []


def _offers(rules: list[Rule]) -> list[str]:
    out: list[str] = []
    for rule in rules:
        if rule.kind is ConditionKind.LIMIT:
            out += [f"{lvl.value} ({rule.rule_id})" for lvl in rule.limits]
        elif rule.kind is ConditionKind.COMM_LOSS:
            out.append(f"comm_loss ({rule.source})")
        else:
            out.append(f"{rule.rule_id} ({rule.kind.value})")
    return out


def _case(rule: Rule, level: Level | None) -> Case:
    priority: Priority = rule.priority
    limit: float | None = None
    value: float | None = None
    if level is not None:
        limit, priority = rule.limits[level]
        value = limit + (0.5 if level.high_side else -0.5)  # an example reading past it
    unit = rule.unit
    if rule.kind is ConditionKind.RATE:
        unit = f"{unit}/min"
    elif rule.kind not in (ConditionKind.LIMIT, ConditionKind.DEVIATION):
        unit = ""
    view = AlarmView(
        key=rule.key,
        code=EXAMPLE_CODE,
        rule=rule.rule_id,
        condition=rule.kind,
        state=AlarmState.UNACK,
        base_state=AlarmState.UNACK,
        active=True,
        priority=priority,
        level=level,
        equipment=rule.equipment,
        equipment_name=rule.equipment_name,
        source=rule.source,
        source_name=rule.source_name,
        value=value,
        unit=unit,
        limit=limit,
        condition_text=level.text if level is not None else rule.name,
        message=f"{rule.equipment or rule.source} {rule.name}",
        contingency=rule.contingency,
    )
    return Case(rule, level, view)


def plan_route(setup: Setup, case: Case, start: datetime, continuing: int = 3) -> RoutePlan:
    """The pages of one alarm raised at ``start`` (until ``continuing`` steps into the phase
    where the last tier keeps paging), people resolved at each step's time."""
    choice = setup.router.route(case.view)
    policy = setup.policies[choice.policy]
    pages: list[PlannedPage] = []
    offset = 0.0
    steps = policy.planned + (continuing if policy.keep_paging else 0)
    for index in range(steps):
        step = policy.step(index)
        if step is None:
            break
        at = start + timedelta(seconds=offset)
        recipients: dict[str, Recipient] = {}
        for target in step.targets:
            for person in setup.resolver.expand(target, at):
                recipients.setdefault(
                    person.id, Recipient(person.id, person.name, person.channels, target)
                )
        pages.append(PlannedPage(step, offset, at, tuple(recipients.values())))
        offset += step.wait
    first = notification_for(
        replace(case.view, raised_at=start),
        kind="raised",
        key="route-test",
        at=start,
        tier=1,
        timezone=setup.timezone,
        site=setup.site,
    )
    sms = compose_sms(first) if first is not None else ""
    return RoutePlan(case, choice, policy, start, tuple(pages), setup.timezone, sms)


def render_route(
    config: AlarmSite,
    paging: PagingConfig,
    target: str,
    condition: str | None,
    at: datetime | None = None,
    continuing: int = 3,
) -> str:
    """The route-test report as text (what ``coldwatch route-test`` prints). Raises
    :class:`RouteTestError` with a message for the user when nothing matches."""
    if paging.escalation is None:
        raise RouteTestError("the configuration has no escalation: section")
    setup = build_setup(paging, config)
    zone = ZoneInfo(setup.timezone)
    start = at or datetime.now(UTC)
    if start.tzinfo is None:
        start = start.replace(tzinfo=zone)
    start = start.astimezone(UTC).replace(second=0, microsecond=0)
    cases = find_cases(config, target, condition)
    blocks = [
        _render(plan_route(setup, case, start, continuing), config, paging, zone) for case in cases
    ]
    head = f"Route test for {target}, condition {condition or 'any'}: nothing is sent.\n"
    if len(blocks) > 1:
        head += f"{len(blocks)} alarms match; each is shown.\n"
    return head + "\n".join(blocks)


def _render(plan: RoutePlan, config: AlarmSite, paging: PagingConfig, zone: ZoneInfo) -> str:
    case, rule, policy = plan.case, plan.case.rule, plan.policy
    view = case.view
    lines: list[str] = [""]

    def row(label: str, text: str) -> None:
        lines.append(f"{label:<10} {text}")

    what = f"{rule.key} ({rule.name})"
    if case.level is not None and view.limit is not None:
        what += f": {case.level.text} at {view.limit:g} {rule.unit}".rstrip()
    row("Alarm", f"{what}, priority {view.priority.value}")
    place = _placement(config, rule)
    if place:
        row("Equipment", place)
    delay = float(rule.spec.on_delay or 0.0)
    if delay:
        row("Raised", f"once the condition lasts {minutes(delay)} (on-delay); minutes from then")
    row("SOP", view.contingency or "(none: set 'contingency' on the rule)")
    if plan.choice.route is None:
        row("Route", f"no route matches: default policy '{plan.choice.policy}'")
    else:
        escalation = paging.escalation
        assert escalation is not None
        match = _match_text(escalation.routes[plan.choice.route].match)
        row("Route", f"routes[{plan.choice.route}] {match} -> policy '{plan.choice.policy}'")
    row("Policy", f"{policy.name}: {policy.describe()}")
    row("Raised at", _time(plan.start, zone, full=True))
    lines.append("")
    recipients = [recipient for page in plan.pages for recipient in page.recipients]
    names = [f"{recipient.name} ({recipient.person_id})" for recipient in recipients]
    who_width = max([len(name) for name in names] + [3])
    via_width = max([len(recipient.target) for recipient in recipients] + [3])
    lines.append(
        f"{'minute':>6}  {'time':<13} {'tier':<4} {'pass':<4} {'who':<{who_width}} "
        f"{'via':<{via_width}} channels"
    )
    for page in plan.pages:
        minute = f"{page.offset / 60:g}"
        pass_no = str(page.step.pass_no) if page.step.pass_no else "+"
        tier = str(page.step.tier + 1)
        lead = f"{minute:>6}  {_time(page.at, zone):<13} {tier:<4} {pass_no:<4}"
        if not page.recipients:
            lines.append(f"{lead} NOBODY on call: the next tier is paged at once")
            continue
        for index, who in enumerate(page.recipients):
            first = lead if not index else " " * len(lead)
            name = f"{who.name} ({who.person_id})"
            lines.append(
                f"{first} {name:<{who_width}} {who.target:<{via_width}} {' > '.join(who.channels)}"
            )
    if policy.keep_paging:
        last = policy.tiers[-1]
        lines.append(
            f"{'...':>6}  tier {len(policy.tiers)} again every {minutes(last.wait)} until "
            "someone acknowledges (pass '+': the repeats are spent)"
        )
    else:
        lines.append(f"{'':>6}  no more pages after that (keep_paging: false)")
    realarm = rule.realarm_after
    lines.append("")
    lines.append(
        "An acknowledgement stops the paging and tells everyone paged. "
        + (
            f"Still active {minutes(realarm)} after it (re-alarm), escalation starts again at "
            "tier 1."
            if realarm
            else "This rule never re-alarms (realarm_after: 0)."
        )
    )
    lines.append(
        "Back to normal stops the paging and tells everyone paged; the alarm waits for an "
        "acknowledgement for the record"
        + (" (latching: it keeps paging until acknowledged)." if rule.latching else ".")
    )
    lines.append("")
    lines.append("First page as SMS (example reading):")
    lines.append(f"  {plan.sms}")
    return "\n".join(lines)


def _placement(config: AlarmSite, rule: Rule) -> str:
    parts: list[str] = []
    for location in config.locations:
        for equipment in location.equipment:
            if equipment.id in rule.equipment_ids:
                parts.append(
                    f"{equipment.name or equipment.id} "
                    f"[{equipment.id}, {equipment.kind.value}, {location.id}]"
                )
    return "; ".join(parts)


def _match_text(match: RouteMatch) -> str:
    items = []
    for name, value in match.model_dump(mode="json", exclude_none=True).items():
        shown = value[0] if isinstance(value, list) and len(value) == 1 else value
        if isinstance(shown, list):
            shown = "[" + ", ".join(str(item) for item in shown) + "]"
        items.append(f"{name}: {shown}")
    return "{" + ", ".join(items) + "}"


def _time(at: datetime, zone: ZoneInfo, full: bool = False) -> str:
    local = at.astimezone(zone)
    if full:
        return f"{local:%a %Y-%m-%d %H:%M %Z} ({at.astimezone(UTC):%H:%M} UTC)"
    return f"{local:%a %H:%M %Z}"
