"""Escalation: policies, on-call schedules, routes, flood bundling and route-test.

The escalator turns the alarm engine's announcements into pages that climb a call tree until
someone acknowledges; ``docs/escalation.md`` describes the configuration and the behaviour.

Modules: :mod:`~alarms.escalation.config` (the ``schedules:`` and ``escalation:`` sections and
their cross-checks; imported by the configuration schema, so it stays light),
:mod:`~alarms.escalation.schedule`, :mod:`~alarms.escalation.policy`,
:mod:`~alarms.escalation.escalator` (``Escalator``, ``build_escalator``),
:mod:`~alarms.escalation.state`, :mod:`~alarms.escalation.bundling`,
:mod:`~alarms.escalation.messages` and :mod:`~alarms.escalation.route_preview`.
"""
