"""Rule templates: the built-in SOP template of each equipment kind (``templates.yaml``, data
shipped with the package) and the site's own templates layered over them (``extends``)."""

from __future__ import annotations

import re
from importlib.resources import files
from typing import Final

import yaml

from alarms.config import TemplateSpec
from alarms.rules.model import Issue, merge_rules
from monitor.core.model import EquipmentKind

#: What a template, rule or inhibit id may look like.
VALID_ID: Final = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")


def _load_builtin() -> dict[str, TemplateSpec]:
    """The templates of ``templates.yaml``, one per equipment kind in the kinds' order."""
    document = yaml.safe_load(files("alarms.rules").joinpath("templates.yaml").read_text())
    templates = {
        name: TemplateSpec.model_validate(spec) for name, spec in document["templates"].items()
    }
    kinds = [kind.value for kind in EquipmentKind]
    if list(templates) != kinds:
        raise RuntimeError(f"templates.yaml must have one template per kind, in order: {kinds}")
    return templates


BUILTIN: Final[dict[str, TemplateSpec]] = _load_builtin()


def resolve_templates(
    user: dict[str, TemplateSpec], issues: list[Issue]
) -> dict[str, TemplateSpec]:
    """Every template, built-in and the site's, with what it extends merged in."""
    for name in user:
        if not VALID_ID.match(name):
            issues.append((("alarms", "templates", name), f"'{name}' is not a valid template name"))
    done: dict[str, TemplateSpec | None] = {}

    def resolve(name: str, chain: tuple[str, ...]) -> TemplateSpec | None:
        if name in done:
            return done[name]
        spec = user.get(name)
        if spec is None:
            return BUILTIN.get(name)
        if name in chain:
            issues.append(
                (
                    ("alarms", "templates", name, "extends"),
                    f"templates extend each other in a loop: {' -> '.join((*chain, name))}",
                )
            )
            return None
        if spec.extends is not None:
            base = resolve(spec.extends, (*chain, name))
            if base is None and spec.extends not in user:
                issues.append(
                    (
                        ("alarms", "templates", name, "extends"),
                        f"template '{spec.extends}' does not exist "
                        f"(templates: {', '.join(sorted({*BUILTIN, *user}))})",
                    )
                )
        else:
            base = BUILTIN.get(name, TemplateSpec())
        base = base or TemplateSpec()
        merged = TemplateSpec(
            roles={**base.roles, **spec.roles}, rules=merge_rules(base.rules, spec.rules)
        )
        done[name] = merged
        return merged

    templates: dict[str, TemplateSpec] = {}
    for name in {*BUILTIN, *user}:
        resolved = resolve(name, ())
        if resolved is not None:
            templates[name] = resolved
    return templates
