"""Scalar evaluation of expression trees into Python numbers and Pyomo expressions.

The Pyomo path builds one expression per index tuple: `ScalarEvaluator`
walks a parsed tree with an environment binding index names to elements.
Nothing here evaluates formulation text; only trees are read.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
import pyomo.environ as pyo
from pyomo.core.expr.numeric_expr import UnaryFunctionExpression

from nl2opt.errors import CompileError
from nl2opt.formulation import expr as E
from nl2opt.formulation.data import ModelData, SetData

if TYPE_CHECKING:
    from nl2opt.solvers.pyomo_model import VariablePart

_ELEMENT_TYPES = (int, float, str, bool)
# Constraints treat strict relations as non-strict (solvers cannot express strictness).
_NON_STRICT = {"<": "<=", ">": ">="}


def pyomo_key(key: tuple):
    if not key:
        return None
    return key[0] if len(key) == 1 else key




def _is_constant(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


class ScalarEvaluator:
    """Evaluates one tree for one binding of index names to set elements.

    Results are Python numbers, set elements (str/int), booleans (conditions)
    or Pyomo expressions (anything holding a decision variable).
    """

    def __init__(self, data: ModelData, variables: "dict[str, VariablePart]", element: str,
                 text: str, cache: dict) -> None:
        self.data, self.variables = data, variables
        self.element, self.text = element, text
        self._cache = cache  # lookup tables per parameter / variable (built once per model)
        self._methods = {kind: getattr(self, f"_eval_{kind.__name__}")
                         for kind in (E.Num, E.Str, E.Name, E.Index, E.Unary, E.Binary, E.Call,
                                      E.Sum, E.Compare, E.BoolOp, E.Not)}

    def fail(self, node: E.Expr, message: str) -> CompileError:
        where = f"{self.element}: " if self.element else ""
        snippet = self.text[node.span[0]:node.span[1]] if self.text else ""
        return CompileError(f"{where}{message} (in '{snippet or E.to_source(node)}')")

    # -- entry points --------------------------------------------------------------------
    def value(self, node: E.Expr, env: dict):
        return self._methods[type(node)](node, env)

    def number(self, node: E.Expr, env: dict):
        value = self.value(node, env)
        if isinstance(value, bool):
            raise self.fail(node, "a condition was used where a number is expected")
        if isinstance(value, str):
            raise self.fail(node, f"the set element {value!r} is not a number")
        return value

    def condition(self, node: E.Expr, env: dict) -> bool:
        value = self.value(node, env)
        if not isinstance(value, bool):
            raise self.fail(node, "a number was used where a condition (a comparison) is "
                            "expected")
        return value

    def relations(self, tree: E.Compare, env: dict) -> list:
        """Pyomo relational expressions of a constraint instance (True/False when constant).

        `lo <= e <= hi` with constant ends is one ranged relation; with variable ends it
        becomes two relations, like the array path's two row groups."""
        sides = [self.number(operand, env) for operand in tree.operands]
        ops = tuple(_NON_STRICT.get(op, op) for op in tree.ops)
        if len(sides) == 3:
            low, middle, high = sides if ops[0] in ("<=", "<") else sides[::-1]
            if _is_constant(low) and _is_constant(high):
                if _is_constant(middle):
                    return [low <= middle <= high]
                return [pyo.inequality(low, middle, high)]
        relations = []
        for op, left, right in zip(ops, sides, sides[1:]):
            if _is_constant(left) and _is_constant(right):
                relations.append(_compare(op, left, right))
            elif op == "==":
                relations.append(left == right)
            elif op in ("<=", "<"):
                relations.append(left <= right)
            else:
                relations.append(left >= right)
        return relations

    # -- leaves --------------------------------------------------------------------------
    def _eval_Num(self, node: E.Num, env: dict):
        return node.value

    def _eval_Str(self, node: E.Str, env: dict):
        return node.value

    def _eval_Name(self, node: E.Name, env: dict):
        name = node.id
        if name in env:
            return env[name]
        if name in self.data.params:
            param = self.data.params[name]
            if param.index:
                raise self.fail(node, f"parameter '{name}' is indexed over "
                                f"({', '.join(param.index)}); write {name}[...]")
            return self._finite_data(node, float(param.values), name)
        if name in self.variables:
            part = self.variables[name]
            if part.sets:
                raise self.fail(node, f"variable '{name}' is indexed; write {name}[...]")
            return part.component
        raise self.fail(node, f"'{name}' is not defined here")

    def _eval_Index(self, node: E.Index, env: dict):
        # Fast path: the index values as given, straight into a dict of known entries.
        # Anything unusual (a missing value, '3' for 3, an element outside its set)
        # misses the dict and takes the careful path below, which also words the errors.
        table = self._entries(node.name)
        key = tuple(env[i.id] if type(i) is E.Name and i.id in env else self.value(i, env)
                    for i in node.indices)
        try:
            found = table.get(key)
        except TypeError:  # an unhashable index (e.g. a Pyomo expression)
            found = None
        if found is not None:
            return found
        return self._index_carefully(node, env)

    def _entries(self, name: str) -> dict:
        table = self._cache.get(("entries", name))
        if table is None:
            table = {}
            if name in self.data.params:
                param = self.data.params[name]
                elements = [self.data.sets[s].elements for s in param.index]
                for positions in np.ndindex(param.values.shape):
                    value = float(param.values[positions])
                    if math.isfinite(value):  # the rest take the careful path
                        table[tuple(e[p] for e, p in zip(elements, positions))] = value
            elif name in self.variables:
                part = self.variables[name]
                table = {key: part.component[pyomo_key] for key, pyomo_key in part.keys()}
            self._cache[("entries", name)] = table
        return table

    def _index_carefully(self, node: E.Index, env: dict):
        if node.name in self.data.params:
            param = self.data.params[node.name]
            sets = [self.data.sets[s] for s in param.index]
            positions = self._positions(node, sets, env)
            value = self._param_table(node.name)
            for position in positions:
                value = value[position]
            if isinstance(value, list) or math.isnan(value):
                key = tuple(s.elements[p] for s, p in zip(sets, positions))
                raise self.fail(node, f"parameter '{node.name}' has no value for {key}; add "
                                "it, give the parameter a 'default', or restrict the indices "
                                "with a condition")
            return self._finite_data(node, value, node.name)
        if node.name in self.variables:
            part = self.variables[node.name]
            positions = self._positions(node, list(part.sets), env)
            key = tuple(s.elements[p] for s, p in zip(part.sets, positions))
            return part.component[pyomo_key(key)]
        raise self.fail(node, f"'{node.name}' is not an indexed parameter or variable")

    def _param_table(self, name: str):
        table = self._cache.get(name)
        if table is None:
            table = self.data.params[name].values.tolist()
            self._cache[name] = table
        return table

    def _positions(self, node: E.Index, sets: list[SetData], env: dict) -> list[int]:
        if len(node.indices) != len(sets):
            raise self.fail(node, f"'{node.name}' takes {len(sets)} index(es) "
                            f"({', '.join(s.name for s in sets) or 'none'}) but got "
                            f"{len(node.indices)}")
        positions = []
        for index, expected in zip(node.indices, sets):
            element = self.value(index, env)
            if isinstance(element, float):
                if not element.is_integer():
                    raise self.fail(node, f"index '{E.to_source(index)}' = {element!r} is "
                                    "not a whole number")
                element = int(element)
            elif not isinstance(element, (int, str)) or isinstance(element, bool):
                raise self.fail(node, f"index '{E.to_source(index)}' involves decision "
                                "variables or conditions; indices must be set elements")
            position = expected.position_of(element)
            if position is None:
                bound = ", ".join(f"{k} = {v!r}" for k, v in env.items()) or "no indices bound"
                raise self.fail(node, f"index '{E.to_source(index)}' = {element!r} is not an "
                                f"element of set '{expected.name}' (when {bound}); restrict "
                                "the indices with a condition (e.g. 'where: t > 1' for t - 1) "
                                "or treat that case in a separate constraint")
            positions.append(position)
        return positions

    # -- arithmetic ----------------------------------------------------------------------
    def _eval_Unary(self, node: E.Unary, env: dict):
        operand = self.number(node.operand, env)
        return -operand if node.op == "-" else operand

    def _eval_Binary(self, node: E.Binary, env: dict):
        left, right = self.number(node.left, env), self.number(node.right, env)
        op = node.op
        if op == "+":
            return left + right
        if op == "-":
            return left - right
        if op == "*":
            return left * right
        if op == "/":
            if _is_constant(right) and right == 0:
                raise self.fail(node, "division by zero")
            return left / right
        if _is_constant(left) and _is_constant(right):
            try:
                result = float(left ** right)
            except (OverflowError, ZeroDivisionError, TypeError):
                result = float("nan")  # TypeError: complex from a negative base
            return self._finite(node, result, "power")
        return left ** right

    def _finite(self, node: E.Expr, value, what: str):
        if isinstance(value, complex) or not math.isfinite(value):
            raise self.fail(node, f"{what} gives a non-finite number (overflow, log or sqrt "
                            "of a negative number, or similar); check the data")
        return value

    def _finite_data(self, node: E.Expr, value: float, name: str) -> float:
        if not math.isfinite(value):
            raise self.fail(node, f"parameter '{name}' is {value} here; expressions need "
                            "finite data: give a number, or leave out the limit it stands for")
        return value

    def _eval_Call(self, node: E.Call, env: dict):
        if node.func == "len":
            set_name = node.args[0].id  # the parser guarantees a Name
            if set_name not in self.data.sets:
                raise self.fail(node, f"len() needs a set name; '{set_name}' is not a set")
            return len(self.data.sets[set_name])
        args = [self.number(a, env) for a in node.args]
        if node.func in ("min", "max"):
            return self._min_max(node, args)
        if node.func == "abs":
            return pyomo_abs(args[0])
        if all(_is_constant(a) for a in args):
            functions = {"exp": math.exp, "log": math.log, "sqrt": math.sqrt,
                         "sin": math.sin, "cos": math.cos, "tan": math.tan}
            try:
                result = functions[node.func](args[0])
            except (ValueError, OverflowError):
                result = float("nan")
            return self._finite(node, result, f"{node.func}()")
        functions = {"exp": pyo.exp, "log": pyo.log, "sqrt": pyo.sqrt, "sin": pyo.sin,
                     "cos": pyo.cos, "tan": pyo.tan}
        return functions[node.func](args[0])

    def _min_max(self, node: E.Call, args: list):
        if all(_is_constant(a) for a in args):
            return min(args) if node.func == "min" else max(args)
        # Pyomo has no min/max node; max(a, b) = (a + b + |a - b|) / 2 is exact and SCIP
        # handles abs. Solvers without abs support reject it with their own message.
        result = args[0]
        sign = 1 if node.func == "max" else -1
        for other in args[1:]:
            result = (result + other + sign * pyomo_abs(result - other)) / 2
        return result

    # -- sums ----------------------------------------------------------------------------
    def _eval_Sum(self, node: E.Sum, env: dict):
        terms: list = []
        self._expand(node, 0, dict(env), terms)
        if all(_is_constant(t) for t in terms):
            return sum(terms)
        return pyo.quicksum(terms)

    def _expand(self, node: E.Sum, level: int, env: dict, terms: list) -> None:
        if level == len(node.generators):
            terms.append(self.number(node.body, env))
            return
        generator = node.generators[level]
        if generator.set_name not in self.data.sets:
            raise self.fail(node, f"'{generator.set_name}' in 'for {generator.var} in "
                            f"{generator.set_name}' is not a declared set")
        for element in self.data.sets[generator.set_name].elements:
            env[generator.var] = element
            if all(self.condition(c, env) for c in generator.conditions):
                self._expand(node, level + 1, env, terms)
        env.pop(generator.var, None)

    # -- conditions ----------------------------------------------------------------------
    def _eval_Compare(self, node: E.Compare, env: dict):
        values = [self.value(o, env) for o in node.operands]
        for value in values:
            if not isinstance(value, _ELEMENT_TYPES) or isinstance(value, bool):
                raise self.fail(node, "conditions may compare only indices and parameters, "
                                "not decision variables or other conditions")
        for op, left, right in zip(node.ops, values, values[1:]):
            if isinstance(left, str) or isinstance(right, str):
                if op not in ("==", "!="):
                    raise self.fail(node, f"'{op}' compares non-numeric set elements; only "
                                    "== and != are allowed for those")
                left, right = str(left), str(right)
            if not _compare(op, left, right):
                return False
        return True

    def _eval_BoolOp(self, node: E.BoolOp, env: dict):
        results = [self.condition(v, env) for v in node.values]
        return all(results) if node.op == "and" else any(results)

    def _eval_Not(self, node: E.Not, env: dict):
        return not self.condition(node.operand, env)


def pyomo_abs(value):
    """|value|; for expressions a plain 'abs' function node, because Pyomo's SCIP
    interface maps UnaryFunctionExpression('abs') but not the AbsExpression abs() makes."""
    if _is_constant(value):
        return abs(value)
    return UnaryFunctionExpression((value,), "abs", abs)


def _compare(op: str, left, right) -> bool:
    return {"<=": left <= right, ">=": left >= right, "==": left == right,
            ">": left > right, "!=": left != right}[op]
