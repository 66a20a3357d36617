"""The general compiler: any formulation (nonlinear included) into a Pyomo model.

The array path (`formulation/arrays.py`) is fast but stops at linear
constraints and quadratic objectives. This path walks the parsed expression
trees once per index tuple in Python and builds ordinary Pyomo expressions, so
it accepts exp/log/sqrt/trig, products of any degree, division by variables
and abs/min/max (via |a - b|). Nothing here evaluates formulation text: only
the trees from `parse_formulation` are read.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field
from typing import Any

import pyomo.environ as pyo

from nl2opt.errors import CompileError
from nl2opt.formulation.bounds import position_names, readable_bound
from nl2opt.formulation.data import ModelData, SetData
from nl2opt.formulation.finite import bound_problem
from nl2opt.formulation.model import Formulation, Sense, VarType
from nl2opt.formulation.parsed import ParsedConstraint, ParsedText
from nl2opt.formulation.prepared import prepare
from nl2opt.formulation.size import check_model_size
from nl2opt.solvers.pyomo_eval import ScalarEvaluator, pyomo_key

_ELEMENT_TYPES = (int, float, str, bool)


@dataclass(frozen=True)
class VariablePart:
    """A Pyomo Var and the user's index sets it runs over (in order)."""

    component: Any
    sets: tuple[SetData, ...]

    def keys(self):
        """User element tuples in set order, paired with the Pyomo index."""
        for key in itertools.product(*(s.elements for s in self.sets)):
            yield key, pyomo_key(key)


@dataclass(frozen=True)
class ConstraintPart:
    """One Pyomo Constraint holding (part of) a user constraint; keys in forall order."""

    component: Any
    keys: tuple[tuple, ...]

    def items(self):
        for key in self.keys:
            yield key, self.component[pyomo_key(key)]


@dataclass
class PyomoBuild:
    """A built ConcreteModel plus the map back to the user's names."""

    model: pyo.ConcreteModel
    formulation: Formulation
    data: ModelData
    variables: dict[str, VariablePart] = field(default_factory=dict)
    constraints: dict[str, list[ConstraintPart]] = field(default_factory=dict)
    objective: Any = None
    # Constraint instances with no variables that are false, e.g. `0 >= 1`.
    always_violated: list[str] = field(default_factory=list)

    @property
    def has_integers(self) -> bool:
        return any(v.type is not VarType.continuous for v in self.formulation.variables)


def build_pyomo_model(formulation: Formulation) -> PyomoBuild:
    """Formulation -> PyomoBuild. Raises FormulationError on parse errors and
    CompileError (or DataError) when the data or an index does not fit."""
    prepared = prepare(formulation)  # the parse and data validation used
    parsed = prepared.complete
    data = prepared.resolved()
    check_model_size(formulation, parsed, data.set_sizes())  # before building anything
    model = pyo.ConcreteModel(name=formulation.name or "nl2opt")
    build = PyomoBuild(model, formulation, data)
    set_components = {name: _add(model, name, pyo.Set(initialize=list(s.elements),
                                                      ordered=True))
                      for name, s in data.sets.items()}
    for variable, bounds in zip(formulation.variables, parsed.variables):
        build.variables[variable.name] = _add_variable(build, variable, bounds, set_components)
    objective = parsed.objective
    value = _evaluator(build, objective).number(objective.tree, {})
    sense = pyo.maximize if formulation.objective.sense is Sense.maximize else pyo.minimize
    build.objective = _add(model, "objective", pyo.Objective(expr=value, sense=sense))
    for constraint in parsed.constraints:
        build.constraints[constraint.name] = _add_constraint(build, constraint)
    return build


def translate_to_highs(build: PyomoBuild):
    """Run Pyomo's own translation of the model into a `highspy.Highs`, without solving.

    Used by benchmarks to time the Pyomo route (build + translate) against the array route.
    """
    from pyomo.contrib.solver.solvers.highs import Highs

    solver = Highs()
    solver.set_instance(build.model)
    highs = solver._solver_model  # the highspy.Highs Pyomo filled in
    highs.setOptionValue("output_flag", False)
    return highs


# -- components -----------------------------------------------------------------------------
def _add(model, name: str, component):
    """Add a component under the user's name, or a suffixed one if Pyomo reserves it."""
    candidate = name
    while hasattr(model, candidate):
        candidate += "_"
    model.add_component(candidate, component)
    return component


def _add_variable(build: PyomoBuild, variable, bounds, set_components) -> VariablePart:
    missing = [s for s in variable.index if s not in build.data.sets]
    if missing:
        raise CompileError(f"variable '{variable.name}' is indexed over undeclared set(s) "
                           f"{', '.join(missing)}; declare them under 'sets'")
    sets = tuple(build.data.sets[s] for s in variable.index)
    domain = {VarType.continuous: pyo.Reals, VarType.integer: pyo.Integers,
              VarType.binary: pyo.Binary}[variable.type]
    table = {}
    read_lower, read_upper = (_bound_reader(build, b, variable)
                              for b in (bounds.lower, bounds.upper))
    for key in itertools.product(*(s.elements for s in sets)):
        env = dict(zip(position_names(variable.index), key))
        low, high = read_lower(env), read_upper(env)
        problem = bound_problem(_label(variable.name, key), low, high)
        if problem:
            raise CompileError(f"variable '{variable.name}': {problem}")
        low = None if low == -math.inf else low  # an infinity on its own side: no bound
        high = None if high == math.inf else high
        if variable.type is VarType.binary:
            low = 0.0 if low is None else max(low, 0.0)
            high = 1.0 if high is None else min(high, 1.0)
        table[pyomo_key(key)] = (low, high)
    if not sets:
        component = pyo.Var(domain=domain, bounds=table[None])
    else:
        component = pyo.Var(*(set_components[s] for s in variable.index), domain=domain,
                            bounds=lambda _m, *key: table[key[0] if len(key) == 1 else key])
    _add(build.model, variable.name, component)
    return VariablePart(component, sets)


def _bound_reader(build: PyomoBuild, bound, variable):
    """A function from the index bindings to the bound's value (None: no bound)."""
    if bound is None or isinstance(bound, float):
        return lambda _env: bound  # infinities and NaN are judged by the caller
    tree = readable_bound(bound, variable.name, variable.index, build.data.params)
    evaluator = _evaluator(build, bound)

    def read(env: dict) -> float:
        value = evaluator.number(tree, env)
        if not isinstance(value, (int, float)):
            raise CompileError(f"{bound.element}: a bound must not involve decision "
                               "variables; write it as a constraint")
        return float(value)

    return read


def _add_constraint(build: PyomoBuild, constraint: ParsedConstraint) -> list[ConstraintPart]:
    data = build.data
    for index_name, set_name in constraint.forall:
        if set_name not in data.sets:
            raise CompileError(f"{constraint.element}: forall '{index_name} in {set_name}': "
                               f"'{set_name}' is not a declared set")
    names = [name for name, _ in constraint.forall]
    relation = _evaluator(build, constraint.relation)
    where = _evaluator(build, constraint.where) if constraint.where else None
    parts: list[dict] = [{}, {}]
    for key in itertools.product(*(data.sets[s].elements for _, s in constraint.forall)):
        env = dict(zip(names, key))
        if where is not None and not where.condition(constraint.where.tree, env):
            continue
        for position, item in enumerate(relation.relations(constraint.relation.tree, env)):
            if item is True:
                continue
            if item is False:
                build.always_violated.append(_label(constraint.name, key))
                continue
            parts[position][key] = item
    return [_constraint_component(build, constraint.name + suffix, names, entries)
            for entries, suffix in zip(parts, ("", "_upper")) if entries]


def _constraint_component(build: PyomoBuild, name: str, names: list[str], entries: dict
                          ) -> ConstraintPart:
    keys = tuple(entries)
    if not names:
        component = pyo.Constraint(expr=entries[()])
    else:
        lookup = {pyomo_key(k): entries[k] for k in keys}
        index = pyo.Set(initialize=list(lookup), dimen=len(names), ordered=True)
        _add(build.model, name + "_index", index)
        component = pyo.Constraint(index, rule=lambda _m, *k: lookup[pyomo_key(k)])
    _add(build.model, name, component)
    return ConstraintPart(component, keys)


def _label(name: str, key: tuple) -> str:
    return f"{name}[{', '.join(repr(k) for k in key)}]" if key else name


def _evaluator(build: PyomoBuild, text: ParsedText) -> "ScalarEvaluator":
    cache = build.__dict__.setdefault("_lookups", {})
    return ScalarEvaluator(build.data, build.variables, text.element, text.text, cache)
