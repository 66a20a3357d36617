"""A compact plain-text view of a formulation, for terminals and logs.

Expressions are shown as written (the language is meant to be readable);
data is summarized rather than dumped.
"""

from __future__ import annotations

from nl2opt.formulation.model import Formulation, Parameter, SetDef, Variable

MAX_SHOWN = 6


def render_text(formulation: Formulation, max_shown: int = MAX_SHOWN) -> str:
    """The formulation in a few lines; data entries beyond `max_shown` per level are
    elided (a review of the model raises `max_shown` to show the data in full)."""
    lines = [formulation.name or "Formulation"]
    if formulation.description:
        lines.append(formulation.description)
    lines += [f"  assumption: {a}" for a in formulation.assumptions]
    if formulation.sets:
        lines.append("Sets")
        lines += [f"  {_set_line(s, max_shown)}" for s in formulation.sets]
    if formulation.parameters:
        lines.append("Parameters")
        lines += [f"  {_parameter_line(p, max_shown)}" for p in formulation.parameters]
    lines.append("Variables")
    lines += [f"  {_variable_line(v)}" for v in formulation.variables]
    objective = formulation.objective
    lines.append(f"Objective: {objective.sense.value} {objective.expression}")
    if formulation.constraints:
        lines.append("Constraints")
    for constraint in formulation.constraints:
        scope = f"for {', '.join(constraint.forall)}" if constraint.forall else ""
        if constraint.where:
            scope += f" where {constraint.where}"
        lines.append(f"  {constraint.name}: {constraint.expression}"
                     + (f"   ({scope.strip()})" if scope else ""))
    return "\n".join(lines)


def _set_line(definition: SetDef, max_shown: int) -> str:
    if definition.range is not None:
        body = f"{definition.range[0]}..{definition.range[1]}"
    elif definition.csv is not None:
        body = f"column {definition.csv.value_column} of {definition.csv.path}"
    else:
        elements = [str(e) for e in definition.elements or []]
        body = ", ".join(elements[:max_shown]) + (", ..." if len(elements) > max_shown else "")
    return f"{definition.name} = {{{body}}}" + _note(definition.description)


def _parameter_line(parameter: Parameter, max_shown: int) -> str:
    head = parameter.name + (f"[{', '.join(parameter.index)}]" if parameter.index else "")
    if parameter.value is not None:
        body = f" = {parameter.value:g}"
    elif parameter.values is not None:
        body = f" = {_preview(parameter.values, max_shown)}"
    elif parameter.table is not None and MAX_SHOWN < max_shown and \
            len(parameter.table) <= max_shown:
        body = " = table " + "; ".join(" ".join(map(str, row)) for row in parameter.table)
    elif parameter.table is not None:
        body = f": table of {len(parameter.table)} rows"
    elif parameter.csv is not None:
        body = f": column {parameter.csv.value_column} of {parameter.csv.path}"
    else:
        body = ""
    if parameter.default is not None:
        body += f" (default {parameter.default:g})"
    unit = f" [{parameter.unit}]" if parameter.unit else ""
    return head + body + unit + _note(parameter.description)


def _preview(values: dict, max_shown: int) -> str:
    items = [f"{k}: {_preview(v, max_shown) if isinstance(v, dict) else f'{v:g}'}"
             for k, v in list(values.items())[:max_shown]]
    return "{" + ", ".join(items) + (", ..." if len(values) > max_shown else "") + "}"


def _variable_line(variable: Variable) -> str:
    head = variable.name + (f"[{', '.join(variable.index)}]" if variable.index else "")
    bounds = []
    if variable.lower is not None:
        bounds.append(f">= {variable.lower}")
    if variable.upper is not None:
        bounds.append(f"<= {variable.upper}")
    if variable.type.value == "binary":
        bounds = []
    return (f"{head}: {variable.type.value}" + (f" {' and '.join(bounds)}" if bounds else "")
            + (" (free)" if variable.lower is None and variable.type.value != "binary" else "")
            + _note(variable.description))


def _note(text: str) -> str:
    return f"  -- {text}" if text else ""
