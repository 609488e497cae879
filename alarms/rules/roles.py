"""Binding a template's roles to one unit's channels, and the channels each rule then watches.

A role binds to what the unit's ``bind`` names, else to the unit's channel of the role's name,
else to its only channel of the role's quantity; a role that matches several channels is
reported once, by the first rule that needs it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from alarms.config import EquipmentAlarms, RoleSpec, RuleSpec, TemplateSpec
from alarms.rules.model import Issue, PathKey
from alarms.rules.report import RuleReport

if TYPE_CHECKING:
    from monitor.config.sections import Channel, Equipment


@dataclass
class RoleBinding:
    """One unit's channels by id, the channel ids each role is bound to, and the roles left
    ambiguous."""

    eq: Equipment
    channels: dict[str, Channel]
    bound: dict[str, tuple[str, ...]] = field(default_factory=dict)
    ambiguous: dict[str, list[str]] = field(default_factory=dict)

    def channel_of(self, name: str) -> str | None:
        """The one channel id a role or channel name stands for, if it stands for one."""
        ids = self.bound.get(name) or ((name,) if name in self.channels else ())
        return ids[0] if len(ids) == 1 else None

    def targets(self, spec: RuleSpec, report: RuleReport, here: PathKey) -> tuple[str, ...]:
        """The unit's channels one rule watches: its ``channel``, else its role's channels."""
        channels = self.channels
        if spec.channel is not None and spec.role is not None:
            report.add("channel", "give either 'role' or 'channel', not both")
            return ()
        if spec.channel is not None:
            ids = (spec.channel,) if isinstance(spec.channel, str) else spec.channel
            for channel_id in ids:
                if channel_id not in channels:
                    report.add(
                        "channel",
                        f"channel '{channel_id}' does not exist "
                        f"(channels: {', '.join(channels) or 'none'})",
                    )
                    return ()
            return tuple(dict.fromkeys(ids))
        if spec.role is None:
            report.add("role", "a rule needs 'role' or 'channel'")
            return ()
        if spec.role in self.ambiguous:  # reported once, for the first rule that needs it
            found = self.ambiguous.pop(spec.role)
            report.add(
                "role",
                f"role '{spec.role}' matches {len(found)} channels ({', '.join(found)}): "
                f"bind it in {'.'.join(str(p) for p in here)}.bind",
                labelled=False,
            )
            return ()
        return self.bound.get(spec.role, ())


def bind_roles(
    eq: Equipment,
    template: TemplateSpec,
    own: EquipmentAlarms,
    where: PathKey,
    issues: list[Issue],
) -> RoleBinding:
    """Bind every role of the template and of the unit's ``bind`` to the unit's channels."""
    channels = {ch.id: ch for ch in eq.channels}
    binding = RoleBinding(eq, channels)
    bound, ambiguous = binding.bound, binding.ambiguous
    roles = dict(template.roles)
    for role in own.bind:
        roles.setdefault(role, RoleSpec())
    for role, spec in roles.items():
        if role in own.bind:
            value = own.bind[role]
            ids = (value,) if isinstance(value, str) else tuple(dict.fromkeys(value))
            missing = [channel_id for channel_id in ids if channel_id not in channels]
            if missing:
                issues.append(
                    (
                        ("alarms", "equipment", eq.id, "bind", role),
                        f"channel '{missing[0]}' does not exist "
                        f"(channels: {', '.join(channels) or 'none'})",
                    )
                )
                continue
            bound[role] = ids
        elif role in channels:
            bound[role] = (role,)
        elif spec.quantity is not None:
            found = [ch.id for ch in eq.channels if ch.quantity == spec.quantity]
            if len(found) == 1:
                bound[role] = (found[0],)
            elif found:
                ambiguous[role] = found
        if spec.required and role not in bound:
            if role in ambiguous:
                continue  # reported by the rules that use it
            what = f" (no {spec.quantity.value} channel)" if spec.quantity else ""
            issues.append(
                (
                    where,
                    f"template '{own.template or eq.kind.value}' needs a channel for role "
                    f"'{role}'{what}: bind it in alarms.equipment.{eq.id}.bind",
                )
            )
    return binding
