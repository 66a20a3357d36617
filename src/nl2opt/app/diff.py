"""What changed between two formulations, and between two solutions.

Elements are matched by name within each of the five groups (sets,
parameters, variables, constraints; the objective is one element), so a
revision reads as "constraint min_bread added, parameter available changed".
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from nl2opt.formulation.render import md_text
from nl2opt.formulation.wording import format_number, instance_words

GROUPS = (("sets", "set"), ("parameters", "parameter"), ("variables", "variable"),
          ("constraints", "constraint"))


@dataclass(frozen=True)
class Change:
    kind: str  # added, removed, changed
    element: str  # set, parameter, variable, objective, constraint
    name: str
    fields: tuple[str, ...] = ()  # for "changed": which fields differ
    detail: str = ""  # a short description of the new version
    values: str = ""  # for a parameter whose data changed: "oven hours: 40 → 60"

    def line(self, style: Callable[[str], str] = str) -> str:
        """One Markdown line, e.g. "constraint `min_bread` added: `x['bread'] >= 10`";
        `style` formats the kind word (e.g. colours it)."""
        text = f"{self.element} `{self.name}` {style(self.kind)}"
        if self.values:
            return f"{text}: {md_text(self.values)}"
        if self.fields:
            text += f" ({', '.join(self.fields)})"
        if self.detail:
            text += f": `{self.detail}`"
        return text


@dataclass
class FormulationDiff:
    changes: list[Change] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not self.changes

    def markdown(self, style: Callable[[str], str] = str) -> str:
        if self.empty:
            return "No element of the model changed."
        return "\n".join(f"- {change.line(style)}" for change in self.changes)


def diff_formulations(before: dict[str, Any], after: dict[str, Any]) -> FormulationDiff:
    """Element-level differences between two formulation dicts (as in `to_dict()`)."""
    diff = FormulationDiff()
    for group, element in GROUPS:
        old = {item["name"]: item for item in before.get(group, [])}
        new = {item["name"]: item for item in after.get(group, [])}
        for name, item in new.items():
            if name not in old:
                diff.changes.append(Change("added", element, name, detail=_detail(item)))
            elif item != old[name]:
                values = value_changes(old[name], item) if element == "parameter" else ""
                diff.changes.append(Change("changed", element, name,
                                           _changed_fields(old[name], item), _detail(item),
                                           values))
        for name in old:
            if name not in new:
                diff.changes.append(Change("removed", element, name))
    old_objective, new_objective = before.get("objective", {}), after.get("objective", {})
    if old_objective != new_objective:
        detail = f"{new_objective.get('sense', '')} {new_objective.get('expression', '')}"
        diff.changes.append(Change("changed", "objective", "objective",
                                   _changed_fields(old_objective, new_objective),
                                   detail.strip()))
    return diff


def value_changes(old: dict, new: dict, limit: int = 6) -> str:
    """"oven hours: 40 → 60; flour kg: 120 → 150" for a parameter's written data ('' when
    its data is read from a file, or only its description changed)."""
    before, after = parameter_entries(old), parameter_entries(new)
    if before is None or after is None:
        return ""
    changed = [(key, before.get(key), after.get(key)) for key in dict.fromkeys([*before, *after])
               if before.get(key) != after.get(key)]
    parts = [f"{instance_words(key) or 'value'}: {format_number(a)} → {format_number(b)}"
             for key, a, b in changed[:limit]]
    more = f"; and {len(changed) - limit} more" if len(changed) > limit else ""
    return "; ".join(parts) + more


def parameter_entries(item: dict) -> dict[tuple, float] | None:
    """{index tuple: value} of a parameter dict's written data (None for a CSV source)."""
    if item.get("csv"):
        return None
    if item.get("value") is not None:
        return {(): item["value"]}
    entries: dict[tuple, float] = {}
    for row in item.get("table") or []:
        entries[tuple(str(k) for k in row[:-1])] = row[-1]
    _flatten(item.get("values") or {}, (), entries)
    if item.get("default") is not None:
        entries[("(default)",)] = item["default"]
    return entries


def _flatten(values: dict, prefix: tuple, entries: dict) -> None:
    for element, value in values.items():
        if isinstance(value, dict):
            _flatten(value, (*prefix, str(element)), entries)
        else:
            entries[(*prefix, str(element))] = value


def _changed_fields(old: dict, new: dict) -> tuple[str, ...]:
    keys = list(dict.fromkeys([*old, *new]))
    return tuple(key for key in keys if old.get(key) != new.get(key))


def _detail(item: dict) -> str:
    """A one-line summary of an element: its expression, type or value."""
    if "expression" in item:
        where = f" for {', '.join(item['forall'])}" if item.get("forall") else ""
        return item["expression"] + where
    if "type" in item:
        index = f"[{', '.join(item.get('index', []))}]" if item.get("index") else ""
        return f"{item['name']}{index}: {item['type']}"
    if "value" in item:
        return f"{item['name']} = {item['value']}"
    return ""


def solution_rows(before: dict[str, Any] | None, after: dict[str, Any] | None
                  ) -> list[dict[str, Any]]:
    """Rows {variable, before, after, change} of two SolveResult dicts, nonzero in either."""
    old = _values(before)
    new = _values(after)
    rows = []
    for label in dict.fromkeys([*old, *new]):
        a, b = old.get(label), new.get(label)
        if (a is None or abs(a) < 1e-9) and (b is None or abs(b) < 1e-9):
            continue
        change = b - a if a is not None and b is not None else None
        rows.append({"variable": label, "before": a, "after": b, "change": change})
    return rows


def _values(result: dict[str, Any] | None) -> dict[str, float]:
    if not result or not result.get("has_solution"):
        return {}
    values = {}
    for name, variable in result.get("variables", {}).items():
        for key, value in variable.get("values", []):
            label = f"{name}[{', '.join(map(str, key))}]" if key else name
            values[label] = float(value)
    return values
