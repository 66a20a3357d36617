"""Augmentations of accepted pairs (LLMOPT's and OptMATH's): rephrase the text, move it
to another domain, change the parameters, add or modify a constraint, change the
objective. Every variant is labelled by solving its own formulation and goes through
forward modelling and verification again, like any other pair.

* rephrase, domain: the LLM rewrites the text; the formulation stays.
* parameters: the data is perturbed here (seeded, +-20% on every parameter that
  carries a unit, so incidence tables, ranks and counts keep their structure); the
  LLM restates the text with the new numbers.
* constraint, objective: the LLM returns a changed formulation with its text; it
  must validate and solve before its text is verified.

Changes to the model need its data inline: instances whose tables live in CSV files
get the text-only augmentations.
"""

from __future__ import annotations

import copy
import re

import numpy as np

from nl2opt.errors import Nl2OptError
from nl2opt.formulation.model import Formulation
from nl2opt.solvers.solve import problem_class_of, solve
from nl2opt.synthesis.complexity import complexity
from nl2opt.synthesis.instance import STATUS
from nl2opt.synthesis.texts import AUGMENTATIONS, CHANGES_MODEL

TEXT_ONLY = ("rephrase", "domain")
SPREAD = 0.2


def kinds_for(requested: list[str], has_files: bool) -> list[str]:
    """The requested augmentations that apply to a pair."""
    return [k for k in requested if k in AUGMENTATIONS and (k in TEXT_ONLY or not has_files)]


def perturb_parameters(formulation: dict, seed: int) -> dict:
    """The formulation with each unit-carrying parameter scaled by a random factor per
    value in [1 - SPREAD, 1 + SPREAD]; integers stay integers, zeros stay zero."""
    changed = copy.deepcopy(formulation)
    rng = np.random.default_rng(seed)
    for param in changed.get("parameters", []):
        if not param.get("unit"):
            continue
        if "value" in param:
            param["value"] = _scale(param["value"], rng)
        elif "values" in param:
            param["values"] = _scale_nested(param["values"], rng)
    return changed


def _scale_nested(values, rng):
    if isinstance(values, dict):
        return {key: _scale_nested(inner, rng) for key, inner in values.items()}
    return _scale(values, rng)


def _scale(value, rng):
    scaled = float(value) * float(rng.uniform(1 - SPREAD, 1 + SPREAD))
    if isinstance(value, int):
        return round(scaled) if value else 0
    return round(scaled, 4)


def rename_variables(formulation: dict, prefix: str = "v_") -> dict:
    """The formulation with every decision variable renamed (prefix + name) in its
    declarations and expressions: a model that only structure can match to the source
    (used to check that verification does not rely on names)."""
    names = [v["name"] for v in formulation["variables"]]
    pattern = re.compile(r"\b(" + "|".join(map(re.escape, names)) + r")\b")
    changed = copy.deepcopy(formulation)
    for variable in changed["variables"]:
        variable["name"] = prefix + variable["name"]
        for side in ("lower", "upper"):
            if isinstance(variable.get(side), str):
                variable[side] = pattern.sub(prefix + r"\1", variable[side])
    for element in (changed["objective"], *changed.get("constraints", [])):
        for key in ("expression", "where"):
            if isinstance(element.get(key), str):
                element[key] = pattern.sub(prefix + r"\1", element[key])
    return changed


def label(formulation: dict, data_dir: str, time_limit: float | None) -> dict:
    """Validate, classify, solve and score a variant: the fields its record needs, or
    {"error": why} when the variant is not a usable model."""
    try:
        model = Formulation.model_validate(formulation).with_data_dir(data_dir)
        problem_class = problem_class_of(model)
        result = solve(model, time_limit=time_limit, problem_class=problem_class)
        score = complexity(model).summary()
    except (Nl2OptError, ValueError) as error:
        return {"error": f"the changed formulation is not usable: {error}"[:2000]}
    status = STATUS.get(result.termination)
    if status is None:
        return {"error": f"the changed formulation could not be labelled "
                         f"({result.termination.value}: {result.message})"}
    return {"answer_status": status, "problem_class": problem_class.value,
            "answer": result.objective if status == "optimal" else None,
            "complexity": score}


def changes_model(kind: str) -> bool:
    return kind in CHANGES_MODEL
