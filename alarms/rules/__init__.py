"""From configuration to concrete rules: templates + role bindings + per-unit overrides.

One :class:`Rule` per alarm point, keyed ``<equipment>.<channel>/<rule>`` (device comm-loss:
``<device>/comm_loss``; checks of coldwatch itself: ``coldwatch/<check>``). The loader runs
:func:`compile_rules` as its cross-check of the ``alarms:`` section and reports every issue
with the path of the key to change; the engine runs it again on a configuration that passed.
"""

from alarms.rules.compiler import compile_rules
from alarms.rules.model import InhibitRule, Rule, RuleSet

__all__ = ["InhibitRule", "Rule", "RuleSet", "compile_rules"]
