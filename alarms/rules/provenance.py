"""Where each setting of a unit's rule comes from: the unit's own rules, a site template (and
what it extends), or a built-in SOP template. ``coldwatch check-config --explain UNIT`` prints
it, so an installer sees which layer to change and that an override did what was meant.

The layers are walked in the order :mod:`alarms.rules.templates` and
:func:`alarms.rules.model.merge_rule` apply them, topmost first; the first layer that sets a
field is its source.
"""

from __future__ import annotations

from dataclasses import dataclass

from alarms.config import AlarmsConfig, LimitSpec, RuleSpec
from alarms.rules.model import LIMIT_LEVELS
from alarms.rules.templates import BUILTIN
from monitor.config.sections import Equipment


@dataclass(frozen=True)
class Layer:
    """One place a unit's rule may be set, with the key (or template) that names it."""

    label: str
    spec: RuleSpec


def template_name(eq: Equipment, settings: AlarmsConfig) -> str:
    """The template the unit follows: its own choice, else its kind's built-in template."""
    own = settings.equipment.get(eq.id)
    return (own.template if own is not None else None) or eq.kind.value


def rule_layers(eq: Equipment, settings: AlarmsConfig, rule_id: str) -> list[Layer]:
    """The layers that set ``rule_id`` for ``eq``, topmost (the unit's own) first."""
    layers: list[Layer] = []
    own = settings.equipment.get(eq.id)
    if own is not None and rule_id in own.rules:
        layers.append(Layer(f"alarms.equipment.{eq.id}.rules.{rule_id}", own.rules[rule_id]))
    name: str | None = template_name(eq, settings)
    seen: set[str] = set()
    while name is not None and name not in seen:
        seen.add(name)
        site = settings.templates.get(name)
        if site is None:
            builtin = BUILTIN.get(name)
            if builtin is not None and rule_id in builtin.rules:
                layers.append(Layer(f"built-in template '{name}'", builtin.rules[rule_id]))
            break
        if rule_id in site.rules:
            layers.append(Layer(f"alarms.templates.{name}.rules.{rule_id}", site.rules[rule_id]))
        if site.extends is not None:
            name = site.extends
        else:  # a site template named like a kind changes that kind's built-in template
            builtin = BUILTIN.get(name)
            if builtin is not None and rule_id in builtin.rules:
                layers.append(Layer(f"built-in template '{name}'", builtin.rules[rule_id]))
            name = None
    return layers


def field_source(layers: list[Layer], field: str) -> str | None:
    """The label of the topmost layer that sets ``field``; None if none does (a default)."""
    for layer in layers:
        if field in layer.spec.model_fields_set:
            return layer.label
    return None


def limit_priority_source(layers: list[Layer], level: str) -> str | None:
    """Where a limit level's own priority comes from: the topmost layer that gives the level
    a priority (a bare number keeps the one below it); None when the level takes the rule's
    priority."""
    assert level in LIMIT_LEVELS
    for layer in layers:
        if level not in layer.spec.model_fields_set:
            continue
        value = getattr(layer.spec, level)
        if value is None:
            return None  # removed here: nothing below counts
        if isinstance(value, LimitSpec) and value.priority is not None:
            return layer.label
    return None
