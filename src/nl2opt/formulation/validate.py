"""Check a formulation and return located issues, worded as repair instructions.

`validate` is a pure function: formulation in, list of `Issue` out. The same
list goes to the user, to reports, and back to the LLM, so each message says
where the problem is, what is wrong, and what to write instead.
"""

from __future__ import annotations

import difflib
import keyword
import unicodedata
from collections import Counter
from enum import Enum

import numpy as np
from pydantic import BaseModel

from nl2opt.errors import CompileError, DataError, ExpressionError, ModelTooLargeError
from nl2opt.formulation import expr as E
from nl2opt.formulation.bounds import bound_reading_problem, element_bound, position_names
from nl2opt.formulation.classify import degree
from nl2opt.formulation.data import ModelData, SetData
from nl2opt.formulation.finite import (
    NonFinite,
    array_problems,
    literal_problems,
    nonlinear_data_problems,
)
from nl2opt.formulation.model import Formulation, VarType
from nl2opt.formulation.parsed import ParsedFormulation, ParsedText
from nl2opt.formulation.prepared import Prepared, prepare

RESERVED = {"sum", "for", "in", "if", "and", "or", "not", "len", *E.FUNCTIONS}


class Severity(str, Enum):
    error = "error"
    warning = "warning"


class Issue(BaseModel):
    severity: Severity
    code: str
    element: str
    message: str

    def __str__(self) -> str:
        return f"[{self.severity.value}] {self.element}: {self.message}"


def errors_only(issues: list[Issue]) -> list[Issue]:
    return [i for i in issues if i.severity is Severity.error]


def format_issues(issues: list[Issue]) -> str:
    return "\n".join(str(i) for i in issues) or "no issues"


def validate(formulation: Formulation, compile_check: bool = True) -> list[Issue]:
    """Every issue found, errors first. `compile_check` also dry-runs the array compiler,
    which finds data-dependent errors such as an index `t - 1` leaving its set."""
    issues = _duplicate_names(formulation)
    # Parsed, resolved and (below) compiled once per formulation version: `solve` then
    # hands the model this trial compile produced straight to the solver.
    prepared = prepare(formulation)
    parsed, parse_errors = prepared.parsed, prepared.parse_errors
    issues += [_from_expression_error(e) for e in parse_errors]
    issues += _non_finite(literal_problems(formulation))
    data = _resolve(prepared, issues)
    if parsed is not None and data is not None:
        _check_size(prepared, parsed, issues)
    if parsed is not None:
        checker = _ScopeChecker(formulation, data, issues)
        checker.run(parsed)
        _check_degrees(formulation, parsed, issues)
        _check_unused(formulation, parsed, issues)
    if data is not None:
        _check_data(formulation, data, issues)
    if compile_check and parsed is not None and data is not None and not errors_only(issues):
        # No parse errors here, so the partial parse is complete.
        _dry_compile(prepared, parsed, data, issues)
    return sorted(issues, key=lambda i: i.severity is not Severity.error)


def _issue(severity: Severity, code: str, element: str, message: str) -> Issue:
    return Issue(severity=severity, code=code, element=element, message=message)


def _non_finite(problems: list[NonFinite]) -> list[Issue]:
    return [_issue(Severity.error, "non-finite", p.element, p.message) for p in problems]


def _from_expression_error(error: ExpressionError) -> Issue:
    message = error.reason
    if error.text:
        message += f" (in '{error.text[:200]}' at column {(error.position or 0) + 1})"
    return _issue(Severity.error, "syntax", error.element or "expression", message)


def _duplicate_names(formulation: Formulation) -> list[Issue]:
    issues, seen = [], {}
    declared = ([("set", s.name) for s in formulation.sets]
                + [("parameter", p.name) for p in formulation.parameters]
                + [("variable", v.name) for v in formulation.variables])
    for kind, name in declared:
        element = f"{kind} '{name}'"
        problem = _name_problem(name)
        if problem:
            issues.append(_issue(Severity.error, problem[0], element, problem[1]))
        if name in seen:
            issues.append(_issue(Severity.error, "duplicate-name", element,
                                 f"'{name}' is also declared as a {seen[name]}; every set, "
                                 "parameter and variable needs its own name"))
        seen.setdefault(name, kind)
    # Counted in one pass: a list.count per name is quadratic (minutes for 50,000 rows).
    counts = Counter(c.name for c in formulation.constraints)
    for name in (n for n, count in counts.items() if count > 1):
        issues.append(_issue(Severity.error, "duplicate-name", f"constraint '{name}'",
                             f"{counts[name]} constraints share this name; rename all but one"))
    return issues


def _name_problem(name: str) -> tuple[str, str] | None:
    """(code, message) when `name` cannot name a set, parameter or variable."""
    if not name.isidentifier():
        return "bad-name", _NOT_AN_IDENTIFIER
    if name in RESERVED or keyword.iskeyword(name):
        return "reserved-name", f"'{name}' is a reserved word or function; rename it"
    if name.startswith("__"):
        return "bad-name", _DUNDER
    if not name.isascii() and unicodedata.normalize("NFKC", name) != name:
        read = unicodedata.normalize("NFKC", name)
        return "bad-name", f"Python reads '{name}' as '{read}'; write '{read}'"
    return None


_NOT_AN_IDENTIFIER = ("names must be identifiers (letters, digits, _; not starting with a "
                      "digit), e.g. 'max_hours'")
_DUNDER = ("names starting with '__' are reserved for Python internals; rename it, e.g. "
           "without the leading underscores")


def _resolve(prepared: Prepared, issues: list[Issue]) -> ModelData | None:
    try:
        return prepared.resolved()
    except DataError as error:
        issues.append(_issue(Severity.error, "data", "data", str(error)))
    except ModelTooLargeError as error:
        issues.append(_too_large_issue(error))
    return None


def _check_size(prepared: Prepared, parsed: ParsedFormulation, issues: list[Issue]) -> None:
    try:
        prepared.check_size(parsed)
    except ModelTooLargeError as error:
        issues.append(_too_large_issue(error))


def _too_large_issue(error: ModelTooLargeError) -> Issue:
    element, _, message = str(error).partition(": ")
    return _issue(Severity.error, "too-large", element, message)


class _ScopeChecker:
    """Walks every expression with the indices in scope and checks names and indices."""

    def __init__(self, formulation: Formulation, data: ModelData | None, issues: list[Issue]):
        self.data = data
        self.issues = issues
        self.sets = {s.name for s in formulation.sets}
        self.params = {p.name: list(p.index) for p in formulation.parameters}
        self.variables = {v.name: list(v.index) for v in formulation.variables}
        self.symbols = self.sets | set(self.params) | set(self.variables)

    def run(self, parsed: ParsedFormulation) -> None:
        self.check(parsed.objective, {})
        for constraint in parsed.constraints:
            scope: dict[str, str] = {}
            for index_name, set_name in constraint.forall:
                self._bind(index_name, set_name, scope, constraint.element)
            if constraint.where is not None:
                self.check(constraint.where, scope, condition=True)
            self.check(constraint.relation, scope)
        for variable in parsed.variables:
            index = self.variables[variable.name]
            scope = dict(zip(position_names(index), index))
            for bound in (variable.lower, variable.upper):
                if isinstance(bound, ParsedText):
                    self._bound(bound, variable.name, index, scope)

    def _bound(self, bound: ParsedText, variable: str, index: list[str], scope: dict) -> None:
        problem = bound_reading_problem(bound.tree, variable, index, self.params)
        if problem:
            self._error(problem[0], bound.element, problem[1])
            return
        self.element = bound.element
        self._visit(element_bound(bound.tree, index, self.params), dict(scope), True,
                    "a bound")

    def _bind(self, index_name: str, set_name: str, scope: dict, element: str) -> None:
        if set_name not in self.sets:
            self._error("undefined-set", element,
                        f"'{set_name}' in '{index_name} in {set_name}' is not a declared set"
                        f"{self._suggest(set_name, self.sets)}")
        if index_name in self.symbols or index_name in RESERVED:
            self._error("shadowing", element,
                        f"index name '{index_name}' hides a declared name or function; use "
                        "another letter, e.g. lowercase of the set name")
        if index_name in scope:
            self._error("shadowing", element, f"index '{index_name}' is bound twice; use a "
                        "different name in the inner loop")
        scope[index_name] = set_name

    def check(self, parsed: ParsedText, scope: dict[str, str], condition: bool = False,
              what: str = "a condition") -> None:
        self.element = parsed.element
        self._visit(parsed.tree, dict(scope), condition, what)

    def _visit(self, node: E.Expr, scope: dict[str, str], condition: bool, what: str) -> None:
        if isinstance(node, E.Sum):
            inner = dict(scope)
            for generator in node.generators:
                self._bind(generator.var, generator.set_name, inner, self.element)
                for cond in generator.conditions:
                    self._visit(cond, inner, True, "a sum's 'if' condition")
            self._visit(node.body, inner, condition, what)
            return
        if isinstance(node, E.Name):
            self._name(node, scope, condition, what)
        elif isinstance(node, E.Index):
            self._index(node, scope, condition, what)
        elif isinstance(node, E.Call) and node.func == "len":
            name = node.args[0].id  # type: ignore[union-attr]
            if name not in self.sets:
                self._error("undefined-set", self.element, f"len({name}): '{name}' is not a "
                            f"declared set{self._suggest(name, self.sets)}")
            return
        for child in E.children(node):
            self._visit(child, scope, condition, what)

    def _name(self, node: E.Name, scope: dict, condition: bool, what: str) -> None:
        name = node.id
        if name in scope:
            return
        if name in self.variables:
            if condition:
                self._error("variable-in-condition", self.element,
                            f"decision variable '{name}' appears in {what}; conditions and "
                            "bounds may use only indices and parameters. Move the logic into "
                            "a constraint (e.g. with a binary variable and a big-M)")
            elif self.variables[name]:
                self._error("missing-index", self.element,
                            f"variable '{name}' is indexed over "
                            f"({', '.join(self.variables[name])}); write "
                            f"{name}[{', '.join(i.lower() for i in self.variables[name])}]")
        elif name in self.params:
            if self.params[name]:
                self._error("missing-index", self.element,
                            f"parameter '{name}' is indexed over ({', '.join(self.params[name])})"
                            f"; write {name}[...] with one index per set")
        elif name in self.sets:
            self._error("set-as-value", self.element,
                        f"set '{name}' is used as a value; loop over it with "
                        f"sum(... for i in {name}) or bind it with forall")
        else:
            known = set(scope) | self.symbols
            self._error("undefined-name", self.element,
                        f"'{name}' is not defined{self._suggest(name, known)}; declare it as a "
                        "parameter or variable, or bind it as an index")

    def _index(self, node: E.Index, scope: dict, condition: bool, what: str) -> None:
        if node.name in self.variables:
            declared = self.variables[node.name]
            if condition:
                self._error("variable-in-condition", self.element,
                            f"decision variable '{node.name}' appears in {what}; conditions "
                            "and bounds may use only indices and parameters")
        elif node.name in self.params:
            declared = self.params[node.name]
        else:
            self._error("undefined-name", self.element,
                        f"'{node.name}' is not an indexed parameter or variable"
                        f"{self._suggest(node.name, set(self.params) | set(self.variables))}")
            return
        if len(node.indices) != len(declared):
            self._error("index-arity", self.element,
                        f"{E.to_source(node)} has {len(node.indices)} index(es) but "
                        f"'{node.name}' is declared over ({', '.join(declared) or 'no sets'}); "
                        f"write {node.name}[{', '.join(s.lower() for s in declared)}]"
                        if declared else f"'{node.name}' is not indexed; write {node.name}")
        for index, expected in zip(node.indices, declared):
            self._index_slot(node, index, expected, scope)
        for index in node.indices:
            self._visit(index, scope, True, "an index")

    def _index_slot(self, node: E.Index, index: E.Expr, expected: str, scope: dict) -> None:
        if isinstance(index, E.Name) and index.id in scope:
            actual = scope[index.id]
            if actual != expected and not self._subset(actual, expected):
                self._error("index-set", self.element,
                            f"in {E.to_source(node)}, '{index.id}' ranges over {actual} but "
                            f"position {self._position(node, index)} of '{node.name}' expects "
                            f"an element of {expected}; use an index bound to {expected}")
        elif isinstance(index, E.Str):
            if self.data and expected in self.data.sets and \
                    self.data.sets[expected].position_of(index.value) is None:
                self._error("index-set", self.element,
                            f"{index.value!r} in {E.to_source(node)} is not an element of "
                            f"{expected}")
        elif self.data and expected in self.data.sets and \
                not self.data.sets[expected].is_integer and not isinstance(index, E.Num):
            self._error("index-arithmetic", self.element,
                        f"index '{E.to_source(index)}' in {E.to_source(node)} computes a value "
                        f"but {expected} has non-integer elements; arithmetic such as t - 1 "
                        "works only on integer sets")

    def _position(self, node: E.Index, index: E.Expr) -> int:
        return next(i for i, x in enumerate(node.indices, 1) if x is index)

    def _subset(self, actual: str, expected: str) -> bool:
        if self.data is None or actual not in self.data.sets or expected not in self.data.sets:
            return True  # unknown sets are reported elsewhere
        target: SetData = self.data.sets[expected]
        return all(target.position_of(e) is not None for e in self.data.sets[actual].elements)

    def _suggest(self, name: str, known) -> str:
        close = difflib.get_close_matches(name, sorted(known), n=1)
        return f" (did you mean '{close[0]}'?)" if close else ""

    def _error(self, code: str, element: str, message: str) -> None:
        self.issues.append(_issue(Severity.error, code, element, message))


def _check_degrees(formulation: Formulation, parsed: ParsedFormulation,
                   issues: list[Issue]) -> None:
    variables = {v.name for v in formulation.variables}
    objective = degree(parsed.objective.tree, variables)
    if objective == 0:
        issues.append(_issue(Severity.warning, "constant-objective", "objective",
                             "the objective contains no decision variable, so any feasible "
                             "point is optimal; check that this is intended"))
    elif objective > 1:
        issues.append(_issue(Severity.warning, "nonlinear", "objective",
                             _nonlinear_text(objective)))
    for constraint in parsed.constraints:
        bound = frozenset(i for i, _ in constraint.forall)
        level = degree(constraint.relation.tree, variables, bound)
        tree = constraint.relation.tree
        if level == 0:
            issues.append(_issue(Severity.warning, "no-variables", constraint.element,
                                 "the constraint contains no decision variable: it is always "
                                 "true or makes the model infeasible"))
        elif level > 1:
            issues.append(_issue(Severity.warning, "nonlinear", constraint.element,
                                 _nonlinear_text(level)))
        if isinstance(tree, E.Compare) and any(op in ("<", ">") for op in tree.ops):
            issues.append(_issue(Severity.warning, "strict-inequality", constraint.element,
                                 "strict inequalities are treated as <= or >=; write them so"))


def _nonlinear_text(level: int) -> str:
    if level != 2:
        return ("nonlinear terms (functions of variables, division by variables, or "
                "powers above 2): the model needs a nonlinear solver (SCIP); linearize if the "
                "problem is meant to be linear")
    return ("quadratic terms (products of variables or squares): the model needs a QP/QCP "
            "solver; linearize if the problem is meant to be linear")


def _check_unused(formulation: Formulation, parsed: ParsedFormulation,
                  issues: list[Issue]) -> None:
    used: set[str] = set()
    texts = [parsed.objective] + [c.relation for c in parsed.constraints]
    texts += [c.where for c in parsed.constraints if c.where is not None]
    texts += [b for v in parsed.variables for b in (v.lower, v.upper) if isinstance(b, ParsedText)]
    for text in texts:
        for node in E.walk(text.tree):
            if isinstance(node, E.Name):
                used.add(node.id)
            elif isinstance(node, E.Index):
                used.add(node.name)
            elif isinstance(node, E.Sum):
                used.update(g.set_name for g in node.generators)
    used.update(s for c in parsed.constraints for _, s in c.forall)
    used.update(s for p in formulation.parameters for s in p.index)
    used.update(s for v in formulation.variables for s in v.index)
    for kind, names in (("set", [s.name for s in formulation.sets]),
                        ("parameter", [p.name for p in formulation.parameters]),
                        ("variable", [v.name for v in formulation.variables])):
        for name in names:
            if name not in used:
                issues.append(_issue(Severity.warning, "unused", f"{kind} '{name}'",
                                     "declared but never used; remove it or use it"))


def _check_data(formulation: Formulation, data: ModelData, issues: list[Issue]) -> None:
    for name, set_data in data.sets.items():
        if len(set_data) == 0:
            issues.append(_issue(Severity.warning, "empty-set", f"set '{name}'",
                                 "the set is empty, so sums over it are 0 and constraints over "
                                 "it vanish; list its elements"))
    for param in data.params.values():
        count, examples = param.missing_tuples(data.sets)
        if count:
            total = int(np.prod(param.values.shape))
            issues.append(_issue(
                Severity.warning, "missing-values", f"parameter '{param.name}'",
                f"no value for {count} of {total} index tuples, e.g. "
                f"{', '.join(map(str, examples))}; add them, set 'default', or make sure they "
                "are never used"))
    for variable in formulation.variables:
        if variable.type is VarType.binary and (
                isinstance(variable.upper, (int, float)) and variable.upper not in (0, 1)):
            issues.append(_issue(Severity.warning, "binary-bounds", f"variable '{variable.name}'",
                                 "binary variables take 0 or 1; the upper bound is ignored"))


def _dry_compile(prepared: Prepared, parsed: ParsedFormulation, data: ModelData,
                 issues: list[Issue]) -> None:
    from nl2opt.formulation.evaluate import NonlinearTerm

    try:
        # Numbers no solver can take (SCIP would stop with "error in input data").
        issues += _non_finite(array_problems(prepared.model()))
    except NonlinearTerm:
        # Nonlinear models compile on the Pyomo path (reported as warnings above), so
        # their data is not evaluated here: look for infinities they would receive.
        issues += _non_finite(nonlinear_data_problems(parsed, data))
        return
    except CompileError as error:
        element, _, message = str(error).partition(": ")
        issues.append(_issue(Severity.error, "compile", element if message else "model",
                             message or element))
