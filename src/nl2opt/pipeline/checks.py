"""Checks on a solved model that catch likely formulation mistakes.

They use only the formulation and its own solution, never labels or
reference answers, so they are safe inside the self-correction loop.
"""

from __future__ import annotations

import re

from nl2opt.formulation.model import Formulation, VarType
from nl2opt.solvers.result import SolveResult, Termination

# Words that mark a quantity counted in whole units.
_COUNTED = re.compile(
    r"\b(number|count|how many|units?|items?|pieces?|people|persons?|workers?|employees?|"
    r"staff|nurses?|trucks?|vehicles?|cars?|buses|ships?|planes?|machines?|servers?|"
    r"boxes|crates|pallets|batches|trips|shifts|houses|tables?|chairs?|products?|"
    r"bottles|packages|containers|animals|cows|sheep|chickens|acres?)\b", re.IGNORECASE)
_FRACTIONAL_TOLERANCE = 1e-6


def result_feedback(formulation: Formulation, result: SolveResult) -> list[str]:
    """Repair instructions derived from a solve result; [] when nothing looks wrong."""
    termination = result.termination
    if termination is Termination.infeasible:
        return ["The model is infeasible: no plan satisfies all constraints. Check constraint "
                "directions (<= vs >=), units and data. Diagnosis:\n" + result.diagnosis]
    if termination is Termination.unbounded:
        return ["The model is unbounded: the objective improves without limit. Check the "
                "objective sense and add the missing limits. Diagnosis:\n" + result.diagnosis]
    if termination is Termination.infeasible_or_unbounded:
        return ["The model is infeasible or unbounded. Check constraint directions, the "
                "objective sense and missing bounds."]
    if termination is Termination.error:
        return [f"The solver failed: {result.message}. Simplify the model (e.g. linearize "
                "products of variables) or check the data."]
    if not result.has_solution:
        return []
    return _all_zero(result) + _fractional_counts(formulation, result)


def _all_zero(result: SolveResult) -> list[str]:
    values = [v for variable in result.variables.values() for _, v in variable.values]
    if values and all(abs(v) < 1e-9 for v in values):
        return ["Every variable is zero at the optimum, which rarely answers a real question. "
                "Check the objective sense and that requirements forcing activity (demands, "
                "minimum amounts) are modelled."]
    return []


def _fractional_counts(formulation: Formulation, result: SolveResult) -> list[str]:
    stated = " ".join(formulation.assumptions).lower()
    if any(word in stated for word in ("fraction", "divisible", "continuous")):
        return []  # the model says fractions are intended; asking again would loop
    problems = []
    for variable in formulation.variables:
        if variable.type is not VarType.continuous:
            continue
        words = f"{variable.name.replace('_', ' ')} {variable.description}"
        if not _COUNTED.search(words):
            continue
        values = result.variables.get(variable.name)
        fractional = [(key, value) for key, value in (values.values if values else [])
                      if abs(value - round(value)) > _FRACTIONAL_TOLERANCE]
        if fractional:
            key, value = fractional[0]
            label = f"{variable.name}[{', '.join(map(repr, key))}]" if key else variable.name
            problems.append(
                f"Variable '{variable.name}' ({variable.description or 'no description'}) "
                f"seems to count whole units but is continuous, and {label} = {value:.6g} is "
                "fractional. Declare it \"integer\" if only whole units make sense; if "
                "fractions are fine, say so in the assumptions.")
    return problems
