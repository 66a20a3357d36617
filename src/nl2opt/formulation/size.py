"""Estimate a model's size from its parsed expressions and set sizes, before expanding it.

The estimate counts what compiling allocates: set elements, parameter cells, variable
columns, constraint rows, the index combinations every `sum` expands to, and the terms
of every expression (a product of two expressions with variables has about as many
quadratic terms as the product of their terms per row). It is a pure function of the
trees and the set sizes, so it runs in microseconds even for a model that would need
tens of GB, and `check_model_size` refuses such a model with the estimate, the limit,
the element responsible and what to do.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from nl2opt.formulation import expr as E
from nl2opt.formulation.limits import Limits, current_limits, too_large
from nl2opt.formulation.model import Formulation
from nl2opt.formulation.parsed import ParsedFormulation


@dataclass(frozen=True)
class Part:
    """One element's share of the model: `size` entries, explained by `detail`."""

    element: str
    size: int
    detail: str = ""


@dataclass(frozen=True)
class SizeEstimate:
    parts: tuple[Part, ...]

    @property
    def total(self) -> int:
        return sum(part.size for part in self.parts)

    @property
    def largest(self) -> Part:
        return max(self.parts, key=lambda part: part.size, default=Part("model", 0))


def estimate_size(formulation: Formulation, parsed: ParsedFormulation,
                  set_sizes: Mapping[str, int]) -> SizeEstimate:
    """Entries the compiled model would hold, element by element (an upper bound: `if`
    and `where` filters are applied after the full index product is built)."""
    variables = {v.name for v in formulation.variables}
    parts = [Part(f"set '{name}'", size, f"{size:,} elements")
             for name, size in set_sizes.items()]
    for param in formulation.parameters:
        if param.index:
            cells = _product(set_sizes, param.index)
            parts.append(Part(f"parameter '{param.name}'", cells, f"{cells:,} data cells"))
    for variable in formulation.variables:
        columns = _product(set_sizes, variable.index)
        parts.append(Part(f"variable '{variable.name}'", columns, f"{columns:,} columns"))
    counter = _TermCounter(set_sizes, variables)
    parts.append(counter.part("objective", parsed.objective.tree, 1))
    for constraint in parsed.constraints:
        rows = _product(set_sizes, [set_name for _, set_name in constraint.forall])
        parts.append(counter.part(constraint.element, constraint.relation.tree, rows))
    return SizeEstimate(tuple(parts))


def check_model_size(formulation: Formulation, parsed: ParsedFormulation,
                     set_sizes: Mapping[str, int], limits: Limits | None = None
                     ) -> SizeEstimate:
    """The estimate; raises ModelTooLargeError naming the largest element when the
    total is above the limit."""
    limit = (limits or current_limits()).max_terms
    estimate = estimate_size(formulation, parsed, set_sizes)
    if estimate.total > limit:
        largest = estimate.largest
        raise too_large(largest.element, estimate.total, limit,
                        f"the largest part is {largest.element} with {largest.detail}")
    return estimate


def _product(set_sizes: Mapping[str, int], names) -> int:
    # Undeclared sets count as empty here; validation reports them.
    return math.prod(set_sizes.get(name, 0) for name in names)


class _TermCounter:
    """Counts the terms an expression expands to over `rows` rows, and the index
    combinations its sums build on the way."""

    def __init__(self, set_sizes: Mapping[str, int], variables: set[str]) -> None:
        self.set_sizes, self.variables = set_sizes, variables
        self.combinations = 0
        self.product_note = ""
        self.worst_product = 0

    def part(self, element: str, tree: E.Expr, rows: int) -> Part:
        self.combinations, self.product_note, self.worst_product = 0, "", 0
        terms = self.terms(tree, rows, frozenset())
        detail = f"about {terms:,} terms over {rows:,} row(s)"
        if self.combinations > rows:
            detail += f" and {self.combinations:,} index combinations in its sums"
        if self.product_note:
            detail += f"; {self.product_note}"
        return Part(element, terms + self.combinations + rows, detail)

    def terms(self, node: E.Expr, rows: int, bound: frozenset[str]) -> int:
        if isinstance(node, E.Name):
            return rows if node.id in self.variables and node.id not in bound else 0
        if isinstance(node, E.Index):
            own = rows if node.name in self.variables else 0
            return own + sum(self.terms(i, rows, bound) for i in node.indices)
        if isinstance(node, E.Sum):
            return self._sum(node, rows, bound)
        if isinstance(node, E.Binary) and node.op in ("*", "**"):
            return self._product_terms(node, rows, bound)
        return sum(self.terms(child, rows, bound) for child in E.children(node))

    def _sum(self, node: E.Sum, rows: int, bound: frozenset[str]) -> int:
        inner = rows * math.prod(self.set_sizes.get(g.set_name, 0) for g in node.generators)
        self.combinations += inner
        inner_bound = bound | {g.var for g in node.generators}
        conditions = sum(self.terms(c, inner, inner_bound)
                         for g in node.generators for c in g.conditions)
        return conditions + self.terms(node.body, inner, inner_bound)

    def _product_terms(self, node: E.Binary, rows: int, bound: frozenset[str]) -> int:
        left = self.terms(node.left, rows, bound)
        right = self.terms(node.right, rows, bound)
        if node.op == "**" and left and not right:
            right = left  # e ** 2 expands like e * e
        elif not left or not right:
            return left + right
        # (a1 + a2 + ...)(b1 + b2 + ...) has one quadratic term per pair in each row.
        quadratic = left * right // max(rows, 1)
        if quadratic > self.worst_product:
            self.worst_product = quadratic
            self.product_note = (f"'{E.to_source(node)[:80]}' multiplies {left:,} by "
                                 f"{right:,} terms, giving about {quadratic:,} quadratic terms")
        return left + right + quadratic
