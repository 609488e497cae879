"""What the configuration decides for the escalator, built once: the policies, the router that
picks one for an alarm, and the resolver that turns a tier's targets into people (the
directory of people and groups, the on-call schedules and the horn places).

:func:`build_setup` reads :class:`~alarms.escalation.config.PagingConfig` (check it with
``check_paging`` first); ``route-test`` (:mod:`.route_preview`) uses the same setup, so what it
shows is what the escalator does.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from alarms.escalation.config import PagingConfig, never_bundled_channels, update_skip_channels
from alarms.escalation.horns import WithHorns, horn_places
from alarms.escalation.policy import Policy, Router, build_policies
from alarms.escalation.schedule import ScheduleResolver, build_schedules
from alarms.model import AlarmView, Priority
from alarms.people import Directory, TargetResolver

if TYPE_CHECKING:
    from alarms.site import AlarmSite

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Setup:
    """Everything the configuration decides, built once (:func:`build_setup`)."""

    policies: Mapping[str, Policy]
    router: Router
    resolver: TargetResolver
    timezone: str = "UTC"
    site: str | None = None
    bundle_window: float | None = 30.0
    """Seconds pages are held during a flood; None: no bundling."""
    skip_for_updates: frozenset[str] = frozenset()
    """Channels not used for back-to-normal and acknowledged messages (voice calls)."""
    never_bundled: frozenset[str] = frozenset()
    """People with one of these channels (horns) get every page on its own."""
    late_after: float = 300.0
    """An event paged later than this after it happened is marked late."""
    horns: tuple[str, ...] = ()
    """Place ids of the horns that sound when no remote notifier works (:mod:`.horns`)."""

    def policy_for(self, view: AlarmView) -> Policy:
        """The policy the routes choose for ``view``. One that does not exist (``check_paging``
        refuses such a configuration) is logged, and the first policy pages instead."""
        choice = self.router.route(view)
        policy = self.policies.get(choice.policy)
        if policy is not None:
            return policy
        fallback = next(iter(self.policies.values()))
        log.error(
            "alarm %s: policy '%s' does not exist; using '%s'", view.key, choice.policy, fallback.id
        )
        return fallback

    def pages_once(self, view: AlarmView) -> bool:
        """Whether ``view``'s alarm pages its first tier once and does not climb: a pulse (an
        event with no "ok" to follow, back to normal when raised) that is neither latching
        nor critical. A critical alarm never goes quiet while unacknowledged."""
        if view.priority is Priority.CRITICAL:
            return False
        rule = self.router.rules.get(view.key)
        return rule is not None and rule.pulse and not rule.latching

    def policy_named(self, policy_id: str, view: AlarmView) -> Policy:
        """The policy a track records, or (the configuration changed under a running track)
        the one the routes choose for its alarm now."""
        policy = self.policies.get(policy_id)
        return policy if policy is not None else self.policy_for(view)


def build_setup(paging: PagingConfig, config: AlarmSite | None = None) -> Setup:
    """The escalator's setup from the configuration (check it with ``check_paging`` first)."""
    escalation = paging.escalation
    if escalation is None:
        raise ValueError("no escalation section: nothing to page with")
    timezone = config.site.timezone if config is not None else "UTC"
    directory = Directory(paging.people, paging.groups)
    places = horn_places(never_bundled_channels(paging))
    resolver = WithHorns(
        ScheduleResolver(directory, build_schedules(paging.schedules, timezone)), places
    )
    return Setup(
        policies=build_policies(escalation),
        router=Router.from_config(escalation, config),
        resolver=resolver,
        timezone=timezone,
        site=config.site.name if config is not None else None,
        bundle_window=escalation.flood.window if escalation.flood.enabled else None,
        skip_for_updates=update_skip_channels(paging),
        never_bundled=never_bundled_channels(paging),
        horns=tuple(places),
    )
