"""First-order relaxation, the one piece of physics every model is built from.

Each state variable is moved exactly (not by an Euler step) toward its instantaneous
equilibrium, so a step is stable for any step length and a model never oscillates numerically.
"""

from __future__ import annotations

import math


def relax(value: float, target: float, time_constant_s: float, dt_s: float) -> float:
    """Where a first-order lag starting at ``value`` stands after ``dt_s`` seconds."""
    if time_constant_s <= 0.0:
        return target
    return target + (value - target) * math.exp(-dt_s / time_constant_s)


def blend(terms: list[tuple[float, float]]) -> tuple[float, float]:
    """Equilibrium and total weight of ``(weight, temperature)`` pairs, e.g. conductances.

    A node coupled to several temperatures through conductances ``G_i`` settles at
    ``sum(G_i T_i) / sum(G_i)``; the returned weight gives its time constant ``C / sum(G_i)``.
    """
    total = sum(w for w, _ in terms)
    if total <= 0.0:
        raise ValueError("blend needs a positive total weight")
    return sum(w * t for w, t in terms) / total, total
