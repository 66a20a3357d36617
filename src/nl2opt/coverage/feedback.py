"""Coverage findings worded as repair instructions, like the solver checks' feedback."""

from __future__ import annotations

from collections import defaultdict

from nl2opt.coverage.check import Coverage
from nl2opt.coverage.facts import Fact, FactKind


def coverage_feedback(coverage: Coverage, limit: int = 5, invented: bool = True) -> list[str]:
    """One instruction per unused fact (at most `limit`), then one per parameter with
    invented values; [] when the model uses every fact of the statement."""
    lines = [_unused_line(fact) for fact in coverage.unused[:limit]]
    hidden = len(coverage.unused) - limit
    if hidden > 0:
        lines.append(f"... and {hidden} more numbers of the statement appear nowhere in the "
                     "model.")
    if invented:
        lines += _invented_lines(coverage, limit)
    return lines


def _unused_line(fact: Fact) -> str:
    shown = _shown(fact)
    return (f"The statement says {fact.describe()}, but no parameter, bound or number in the "
            f"model has this value{_forms(fact)}. Model what it states, or, if it does not "
            f"matter, say why in the assumptions (mentioning {shown}).")


def _shown(fact: Fact) -> str:
    return f"{fact.value:g}" if fact.kind is not FactKind.percent else f"{fact.value:g}%"


def _forms(fact: Fact) -> str:
    if fact.kind is FactKind.percent:
        return f" (also not as {fact.value / 100:g})"
    return ""


def _invented_lines(coverage: Coverage, limit: int) -> list[str]:
    by_parameter: dict[str, list[str]] = defaultdict(list)
    for number in coverage.invented:
        by_parameter[number.parameter or number.where].append(
            f"{number.where.removeprefix('parameter ')} = {number.value:g}")
    lines = []
    for name, entries in list(by_parameter.items())[:limit]:
        shown = ", ".join(entries[:3]) + (f" and {len(entries) - 3} more"
                                          if len(entries) > 3 else "")
        subject = f"Parameter '{name}'" if not name.startswith("the ") else name.capitalize()
        lines.append(f"{subject} has values that appear nowhere in the statement ({shown}). "
                     "Take the data from the statement, or say in the assumptions where these "
                     "values come from.")
    return lines
