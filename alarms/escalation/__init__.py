"""Escalation: policies, on-call schedules, routes, flood bundling and route-test.

The escalator turns the alarm engine's announcements into pages that climb a call tree until
someone acknowledges; ``docs/escalation.md`` describes the configuration and the behaviour.

Modules:

- configuration: :mod:`~alarms.escalation.config` (the ``schedules:`` and ``escalation:``
  models; imported by the configuration schema, so it stays light) and
  :mod:`~alarms.escalation.config_checks` (``check_paging``, what refers to what);
- what the configuration decides: :mod:`~alarms.escalation.schedule` (who is on call),
  :mod:`~alarms.escalation.policy` (steps and routes), :mod:`~alarms.escalation.horns` (the
  horns as last resort) and :mod:`~alarms.escalation.setup` (all of it built once);
- the escalator: :mod:`~alarms.escalation.decide` (what happens next: a pure function),
  :mod:`~alarms.escalation.escalator` (``Escalator``: the task that carries decisions out),
  :mod:`~alarms.escalation.paging` (pages and updates), :mod:`~alarms.escalation.page_tasks`
  (the tasks that send them), :mod:`~alarms.escalation.bundling` (flood bundles),
  :mod:`~alarms.escalation.messages` (the notification of a page),
  :mod:`~alarms.escalation.state` (tracks and the record's rows),
  :mod:`~alarms.escalation.recording` (writing the record) and
  :mod:`~alarms.escalation.recovery` (resuming from it after a restart);
- :mod:`~alarms.escalation.route_preview` (``coldwatch route-test``).

Outside the package: the escalation record's SQLite table is
:mod:`alarms.records.escalation_record`, and :mod:`alarms.escalator_builder`
(``build_escalator``) is the one way to build the escalator with its notifiers and store
adapters.
"""
