"""Infeasible and unbounded variants, made on purpose and confirmed by solving.

* Infeasible: add a target the optimum cannot meet, e.g. "the total cost must not
  exceed B" with B below the optimal cost. It reads like an ordinary budget, so
  the text gives nothing away.
* Unbounded: drop one constraint family whose absence lets the objective grow
  without limit (tried in a seeded order until the solver says unbounded).

Each function returns the variant with a note, or None when the family does not
allow it (a quadratic objective, or no constraint whose removal unbounds it).
"""

from __future__ import annotations

import re

import numpy as np

from nl2opt.formulation.model import Formulation, Sense
from nl2opt.solvers.result import SolveResult, Termination
from nl2opt.solvers.solve import solve

TARGET_MARGIN = 0.1  # the target misses the optimum by 10% (at least 1)


def infeasible_variant(formulation: Formulation, optimum: float,
                       time_limit: float | None = None) -> tuple[Formulation, str] | None:
    """The formulation plus an objective target it cannot meet, or None."""
    margin = max(1.0, TARGET_MARGIN * abs(optimum))
    minimize = formulation.objective.sense is Sense.minimize
    target = optimum - margin if minimize else optimum + margin
    target = float(np.floor(target) if minimize else np.ceil(target))
    name = "budget" if minimize else "target"
    what = formulation.objective.description or "the objective"
    data = formulation.to_dict()
    data["parameters"].append({"name": name, "value": target, "description":
                               f"{'most' if minimize else 'least'} allowed {what}"})
    relation = "<=" if minimize else ">="
    data["constraints"].append({
        "name": f"{name}_limit", "expression": f"{formulation.objective.expression} {relation} "
                                              f"{name}",
        "description": f"{what} must be {'at most' if minimize else 'at least'} the {name}"})
    variant = Formulation.model_validate(data)
    if _termination(variant, time_limit) is not Termination.infeasible:
        return None
    return variant, f"{name} {target:g} on {what} cannot be met (optimum {optimum:g})"


def unbounded_variant(formulation: Formulation, seed: int,
                      time_limit: float | None = None) -> tuple[Formulation, str] | None:
    """The formulation without one constraint whose removal makes it unbounded, or None."""
    order = np.random.default_rng(seed).permutation(len(formulation.constraints))
    for position in order:
        dropped = formulation.constraints[int(position)]
        kept = [c for c in formulation.constraints if c.name != dropped.name]
        variant = formulation.model_copy(update={"constraints": kept})
        variant = _without_unused(variant)
        if _termination(variant, time_limit) is Termination.unbounded:
            return variant, f"constraint '{dropped.name}' ({dropped.description}) removed"
    return None


def _without_unused(formulation: Formulation) -> Formulation:
    """Drop parameters no expression mentions any more (they would only confuse a text)."""
    texts = [formulation.objective.expression,
             *(c.expression + " " + (c.where or "") for c in formulation.constraints),
             *(str(v.lower) + " " + str(v.upper) for v in formulation.variables)]
    joined = " ".join(texts)
    used = set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", joined))
    return formulation.model_copy(update={"parameters": [
        p for p in formulation.parameters if p.name in used]})


def _termination(formulation: Formulation, time_limit: float | None) -> Termination:
    result: SolveResult = solve(formulation, time_limit=time_limit, check=False)
    return result.termination
