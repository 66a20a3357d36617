"""Deliberate modelling errors, to measure what the coverage check notices.

`mutants(formulation)` yields copies with one constraint dropped or one
coefficient changed (a parameter entry or a number in an expression), each
named so that a report can say which error was or was not caught.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from nl2opt.formulation.model import Formulation

_NUMBER = re.compile(r"(?<![\w.\[])(\d+(?:\.\d+)?)(?![\w.\]])")


@dataclass(frozen=True)
class Mutant:
    kind: str  # "dropped constraint" or "changed coefficient"
    target: str  # e.g. "constraint 'capacity'", "parameter 'cost'[a]"
    formulation: Formulation


def changed(value: float) -> float:
    """A plausible wrong value: 10% more, at least 1 more for whole numbers."""
    if float(value).is_integer():
        return float(value + max(1, round(abs(value) * 0.1)))
    return round(value * 1.1, 6)


def mutants(formulation: Formulation) -> Iterator[Mutant]:
    """One mutant per constraint (dropped), per parameter and per constraint with a
    literal number (its first number changed)."""
    document = formulation.to_dict()
    for position, constraint in enumerate(document["constraints"]):
        copy = formulation.to_dict()
        del copy["constraints"][position]
        yield Mutant("dropped constraint", f"constraint '{constraint['name']}'",
                     _rebuild(formulation, copy))
    for position, parameter in enumerate(document["parameters"]):
        copy = formulation.to_dict()
        target = _change_parameter(copy["parameters"][position])
        if target is not None:
            yield Mutant("changed coefficient", f"parameter '{parameter['name']}'{target}",
                         _rebuild(formulation, copy))
    for position, constraint in enumerate(document["constraints"]):
        match = _NUMBER.search(constraint["expression"])
        if match is None or float(match.group(1)) in (0.0, 1.0):
            continue
        copy = formulation.to_dict()
        new = f"{changed(float(match.group(1))):g}"
        text = constraint["expression"]
        copy["constraints"][position]["expression"] = (text[:match.start(1)] + new
                                                      + text[match.end(1):])
        yield Mutant("changed coefficient",
                     f"constraint '{constraint['name']}' ({match.group(1)} -> {new})",
                     _rebuild(formulation, copy))


def _change_parameter(parameter: dict) -> str | None:
    """Change the first value (other than 0 or 1) of a parameter in place; returns which
    entry ('' for a scalar), or None when there is none (CSV data, a default only)."""
    if _worth_changing(parameter.get("value")):
        parameter["value"] = changed(parameter["value"])
        return ""
    for row in parameter.get("table") or []:
        if _worth_changing(row[-1]):
            row[-1] = changed(row[-1])
            return f"[{', '.join(map(str, row[:-1]))}]"
    for path, holder, key in _leaves(parameter.get("values"), []):
        if _worth_changing(holder[key]):
            holder[key] = changed(holder[key])
            return f"[{', '.join(path)}]"
    return None


def _worth_changing(value) -> bool:
    """0 and 1 are implicit in most texts, so changing them says nothing about coverage."""
    return isinstance(value, int | float) and not isinstance(value, bool) and \
        value not in (0, 1)


def _leaves(values, path: list[str]) -> Iterator[tuple[list[str], dict, str]]:
    """(index path, the dict holding the value, its key) for every nested value."""
    if not isinstance(values, dict):
        return
    for key, value in values.items():
        if isinstance(value, dict):
            yield from _leaves(value, path + [key])
        else:
            yield path + [key], values, key


def _rebuild(original: Formulation, document: dict) -> Formulation:
    rebuilt = Formulation.model_validate(document)
    return rebuilt.with_data_dir(original.data_dir)
