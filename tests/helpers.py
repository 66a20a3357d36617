"""Small builders for formulations written inside tests."""

from __future__ import annotations

from nl2opt.formulation.model import Formulation


def formulation(variables, objective, constraints=(), sets=(), parameters=(),
                sense="minimize") -> Formulation:
    """A Formulation from compact pieces; `objective` is the expression text."""
    return Formulation.model_validate({
        "sets": list(sets), "parameters": list(parameters), "variables": list(variables),
        "objective": {"sense": sense, "expression": objective},
        "constraints": [c if isinstance(c, dict) else {"name": f"c{k}", "expression": c}
                        for k, c in enumerate(constraints)],
    })
