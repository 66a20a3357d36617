"""Emit a standalone, readable Pyomo script for a formulation.

The script is what a modeller would write by hand: a DATA section (sets as
lists, parameters as dicts), a MODEL section (Set, Param, Var, Objective and
Constraint components with rule functions) and a SOLVE section that prints the
status, the objective and the nonzero variable values, ending with one
machine-readable line `OBJECTIVE = <float>` or `STATUS = <condition>`.
Expressions are printed from nl2opt's parsed trees, never copied from text.
"""

from __future__ import annotations

import keyword
import math
import re

import numpy as np
import pyomo.environ as pyo

from nl2opt.errors import FormulationError
from nl2opt.formulation import expr as E
from nl2opt.formulation.bounds import element_bound, position_names
from nl2opt.formulation.classify import ProblemClass, classify, degree
from nl2opt.formulation.data import ModelData, resolve_data
from nl2opt.formulation.model import Formulation, Parameter, Sense, SetDef, Variable, VarType
from nl2opt.formulation.parsed import ParsedConstraint, ParsedFormulation, parse_formulation
from nl2opt.formulation.validate import errors_only, format_issues, validate
from nl2opt.solvers.code_text import (
    bound_text,
    comment,
    docstring_line,
    docstring_text,
    join_blocks,
    number_literal,
    paragraph,
    return_line,
    wrap_items,
)

_HIGHS_CLASSES = (ProblemClass.LP, ProblemClass.MILP, ProblemClass.QP)
# Names the script itself uses; user names that equal one get a trailing underscore.
_BUILTINS = {"pyo", "pyomo_abs", "UnaryFunctionExpression", "csv", "Path", "DATA_DIR",
             "csv_rows", "csv_element", "csv_key", "csv_set", "csv_param", "solver",
             "results", "condition", "var", "index", "value", "sum", "len", "abs", "min",
             "max", "float", "list", "range", "dict", "tuple", "print", "repr", "str", "int",
             "open", "zip", "reversed", "isinstance"}
_DOMAINS = {VarType.continuous: ("pyo.Reals", "pyo.NonNegativeReals"),
            VarType.integer: ("pyo.Integers", "pyo.NonNegativeIntegers"),
            VarType.binary: ("pyo.Binary", "pyo.Binary")}
_ABS_HELPER = '''

def pyomo_abs(expr):
    """abs() as a plain function node: Pyomo's SCIP interface does not map AbsExpression."""
    return UnaryFunctionExpression((expr,), "abs", abs)
'''
_CSV_HELPERS = '''

def csv_rows(path):
    with open(path, newline="", encoding="utf-8-sig") as handle:
        return list(csv.DictReader(handle))


def csv_element(text):
    """CSV cells are text; whole numbers become ints so they match integer sets."""
    text = text.strip()
    try:
        return int(text)
    except ValueError:
        return text


def csv_set(path, column):
    """The distinct values of a column, in file order."""
    return list(dict.fromkeys(csv_element(row[column]) for row in csv_rows(path)))


def csv_key(text, by_text):
    """The element a key cell names: the element with that very text first (so '01' is
    the element '01', not the int 1 that names '1'), else the cell read by csv_element,
    else the element whose text that is ('+7' names '7')."""
    text = text.strip()
    if text in by_text:
        return by_text[text]
    element = csv_element(text)
    return by_text.get(element, by_text.get(str(element), element))


def csv_param(path, index_columns, value_column, index_sets):
    """{element or (elements...): value} from a CSV file."""
    by_text = []
    for elements in index_sets:
        lookup = {str(element): element for element in reversed(elements)}
        # Text elements win their own text; numbers are also found as themselves.
        lookup.update((element, element) for element in elements)
        by_text.append(lookup)
    values = {}
    for row in csv_rows(path):
        key = tuple(csv_key(row[column], lookup)
                    for column, lookup in zip(index_columns, by_text))
        values[key[0] if len(key) == 1 else key] = float(row[value_column])
    return values
'''


def emit_pyomo_script(formulation: Formulation, solver: str | None = None) -> str:
    """A runnable Pyomo script for `formulation`; `solver` overrides the choice of
    highs (LP, MILP, QP) or scip_direct (everything else)."""
    # Code is written only for formulations that pass the checks: an undeclared set or a
    # name that is no identifier would otherwise surface as a crash or as broken Python.
    problems = errors_only(validate(formulation, compile_check=False))
    if problems:
        raise FormulationError("the formulation has errors, so no code was written:\n"
                               + format_issues(problems), problems)
    parsed, errors = parse_formulation(formulation)
    if parsed is None:
        raise FormulationError("the formulation has expression errors:\n"
                               + "\n".join(str(e) for e in errors), errors)
    problem_class = classify(formulation, parsed)
    # Pyomo's newer HiGHS interface ("highs") takes QPs too; the older appsi_highs does not.
    chosen = solver or ("highs" if problem_class in _HIGHS_CLASSES else "scip_direct")
    return _Emitter(formulation, parsed, resolve_data(formulation)).script(problem_class,
                                                                          chosen)


class _Names:
    """Hands out Python identifiers and model attribute names that collide with nothing."""

    def __init__(self, formulation: Formulation, parsed: ParsedFormulation) -> None:
        index_names = _index_names(formulation, parsed)
        self.model = "m" if "m" not in index_names else "model"
        self.taken = set(keyword.kwlist) | _BUILTINS | {self.model}
        self.reserved_locals = _BUILTINS | {self.model}
        # Keyed by (kind, name): a constraint may share its name with a parameter.
        self.attributes: dict[tuple[str, str], str] = {}
        probe = pyo.ConcreteModel()
        used: set[str] = set()
        for kind, name, text in _component_names(formulation):
            candidate = python_name(text)
            while hasattr(probe, candidate) or candidate in used:
                candidate += "_"
            used.add(candidate)
            self.attributes[kind, name] = candidate

    def take(self, base: str) -> str:
        candidate = base
        while candidate in self.taken:
            candidate += "_"
        self.taken.add(candidate)
        return candidate

    def local(self, name: str) -> str:
        return name + "_" if name in self.reserved_locals else name

    def component(self, name: str, kind: str = "symbol") -> str:
        return f"{self.model}.{self.attributes[kind, name]}"


def python_name(name: str) -> str:
    """`name` as a Python identifier: constraint names may be free text ("max hours")."""
    text = re.sub(r"\W", "_", name, flags=re.ASCII) or "_"
    text = "_" + text if text[0].isdigit() else text
    return text + "_" if keyword.iskeyword(text) else text


def _index_names(formulation: Formulation, parsed: ParsedFormulation) -> set[str]:
    names = {s.name.lower() for s in formulation.sets}
    trees = [parsed.objective.tree] + [c.relation.tree for c in parsed.constraints]
    trees += [c.where.tree for c in parsed.constraints if c.where]
    for constraint in parsed.constraints:
        names.update(index for index, _ in constraint.forall)
    for tree in trees:
        names.update(g.var for node in E.walk(tree) if isinstance(node, E.Sum)
                     for g in node.generators)
    return names


def _component_names(formulation: Formulation) -> list[tuple[str, str, str]]:
    """(kind, name, preferred attribute) of every model component."""
    symbols = [*formulation.sets, *formulation.parameters, *formulation.variables]
    names = [("symbol", s.name, s.name) for s in symbols]
    names.append(("objective", "objective", "objective"))
    for constraint in formulation.constraints:
        names += [("constraint", constraint.name, constraint.name),
                  ("upper", constraint.name, constraint.name + "_upper")]
    return names


class _Source(E._Printer):
    """Prints a tree as Pyomo-flavoured Python: m.x[i], sum(... for i in m.I if ...)."""

    def __init__(self, names: _Names, data: ModelData, variables: set[str],
                 local: dict[str, str], value_mode: bool = False) -> None:
        self.names, self.data, self.variables = names, data, variables
        self.local, self.value_mode = local, value_mode

    def _with(self, local: dict | None = None, value_mode: bool | None = None) -> "_Source":
        return _Source(self.names, self.data, self.variables,
                       self.local if local is None else local,
                       self.value_mode if value_mode is None else value_mode)

    def _render(self, node: E.Expr) -> tuple[str, int]:
        if isinstance(node, E.Name):
            if node.id in self.local:
                return self.local[node.id], 9
            text = self.names.component(node.id)
            is_param = node.id in self.data.params
            return (f"pyo.value({text})" if self.value_mode and is_param else text), 9
        if isinstance(node, E.Index):
            inner = self._with(value_mode=True)
            keys = ", ".join(inner.show(i, 0) for i in node.indices)
            return f"{self.names.component(node.name)}[{keys}]", 9
        if isinstance(node, E.Call):
            return self._call(node), 9
        if isinstance(node, E.Sum):
            return self._sum(node), 9
        if isinstance(node, (E.Compare, E.BoolOp, E.Not)) and not self.value_mode:
            return self._with(value_mode=True)._render(node)
        return super()._render(node)

    def _call(self, node: E.Call) -> str:
        if node.func == "len":
            return f"len({self.names.component(node.args[0].id)})"
        args = [self.show(a, 0) for a in node.args]
        if node.func in ("min", "max") and self._has_variables(node):
            # Python's min/max cannot compare Pyomo expressions; use the exact identity
            # max(a, b) = (a + b + |a - b|) / 2 (min with a minus sign).
            sign = "+" if node.func == "max" else "-"
            result = args[0]
            for other in args[1:]:
                result = (f"(({result}) + ({other}) {sign} "
                          f"pyomo_abs(({result}) - ({other}))) / 2")
            return result
        if node.func == "abs" and self._has_variables(node):
            return f"pyomo_abs({args[0]})"
        if node.func in ("abs", "min", "max"):
            return f"{node.func}({', '.join(args)})"
        return f"pyo.{node.func}({args[0]})"

    def _has_variables(self, node: E.Expr) -> bool:
        return degree(node, self.variables, frozenset(self.local)) > 0

    def _sum(self, node: E.Sum) -> str:
        local = dict(self.local)
        clauses = []
        for generator in node.generators:
            local[generator.var] = self.names.local(generator.var)
            clauses.append(f"for {local[generator.var]} in "
                           f"{self.names.component(generator.set_name)}")
            condition = self._with(local, True)
            clauses.extend(f"if {condition.show(c, 2)}" for c in generator.conditions)
        return f"sum({self._with(local).show(node.body, 0)} {' '.join(clauses)})"


class _Emitter:
    def __init__(self, formulation: Formulation, parsed: ParsedFormulation,
                 data: ModelData) -> None:
        self.f, self.parsed, self.data = formulation, parsed, data
        self.names = _Names(formulation, parsed)
        self.variables = {v.name for v in formulation.variables}
        self.m = self.names.model
        self.data_names = {s.name: self.names.take(s.name) for s in formulation.sets}
        self.data_names.update({p.name: self.names.take(p.name) for p in formulation.parameters})
        # Looked up once per constraint: a dict, not a scan of the list (50,000 rows).
        self.descriptions = {c.name: c.description for c in formulation.constraints}

    def source(self, local: dict[str, str], value_mode: bool = False) -> _Source:
        return _Source(self.names, self.data, self.variables, local, value_mode)

    def script(self, problem_class: ProblemClass, solver: str) -> str:
        uses_csv = any(s.csv for s in self.f.sets) or any(p.csv for p in self.f.parameters)
        parts = [self._header(problem_class, solver, uses_csv),
                 self._imports(uses_csv, self._uses_abs()),
                 self._data_section(), self._model_section(), self._solve_section(solver)]
        return "\n\n".join(parts).rstrip() + "\n"

    # -- header, imports, data ---------------------------------------------------------------
    def _header(self, problem_class: ProblemClass, solver: str, uses_csv: bool) -> str:
        title = docstring_text(" ".join((self.f.name or "Optimization model").split()))
        lines = [f'"""{title}', ""]
        if self.f.description:
            lines += [paragraph(self.f.description), ""]
        notes = ("Generated by nl2opt from a five-element formulation; edit freely. Data are "
                 "inlined as Python lists and dicts"
                 + ("; CSV-sourced sets and parameters are read with the csv module from "
                    "their paths, relative to DATA_DIR (run the script from the "
                    "formulation's folder or change DATA_DIR)." if uses_csv else "."))
        lines += [f"Problem class: {problem_class.value}. Solver: {solver}.", paragraph(notes),
                  "The last line printed is `OBJECTIVE = <value>` or `STATUS = <condition>`.",
                  '"""']
        return "\n".join(lines)

    def _uses_abs(self) -> bool:
        """Whether abs/min/max is applied to decision variables anywhere."""
        trees = [(self.parsed.objective.tree, frozenset())]
        trees += [(c.relation.tree, frozenset(i for i, _ in c.forall))
                  for c in self.parsed.constraints]
        return any(isinstance(node, E.Call) and node.func in ("abs", "min", "max")
                   and degree(node, self.variables, bound) > 0
                   for tree, bound in trees for node in E.walk(tree))

    def _imports(self, uses_csv: bool, uses_abs: bool) -> str:
        text = "import csv\nfrom pathlib import Path\n\n" if uses_csv else ""
        text += "import pyomo.environ as pyo"
        if uses_abs:
            text += "\nfrom pyomo.core.expr.numeric_expr import UnaryFunctionExpression"
        if uses_csv:
            text += '\n\nDATA_DIR = Path(".")  # CSV paths below are relative to this folder'
            text += _CSV_HELPERS
        return text + (_ABS_HELPER if uses_abs else "")

    def _data_section(self) -> str:
        lines = ["# ---- DATA " + "-" * 85]
        for definition in self.f.sets:
            lines.append(comment(f"{self.data_names[definition.name]} = "
                                  f"{self._set_data(definition)}", definition.description))
        for param in self.f.parameters:
            note = " ".join(x for x in (param.description, f"[{param.unit}]" if param.unit
                                        else "") if x)
            lines.append(comment(f"{self.data_names[param.name]} = {self._param_data(param)}",
                                  note))
        return "\n".join(lines)

    def _set_data(self, definition: SetDef) -> str:
        if definition.range is not None:
            return f"list(range({definition.range[0]}, {definition.range[1] + 1}))"
        if definition.csv is not None:
            return (f"csv_set(DATA_DIR / {definition.csv.path!r}, "
                    f"{definition.csv.value_column!r})")
        return wrap_items([repr(e) for e in self.data.sets[definition.name].elements], "[]")

    def _param_data(self, param: Parameter) -> str:
        values = self.data.params[param.name].values
        if not param.index:
            return number_literal(float(values))
        if param.csv is not None:
            index_sets = ", ".join(self.data_names[s] for s in param.index)
            return (f"csv_param(DATA_DIR / {param.csv.path!r}, {param.csv.index_columns!r}, "
                    f"{param.csv.value_column!r}, [{index_sets}])")
        sets = [self.data.sets[s] for s in param.index]
        items = []
        for positions in np.ndindex(values.shape):
            value = float(values[positions])
            if math.isnan(value) or (param.default is not None and value == param.default):
                continue
            key = [repr(s.elements[p]) for s, p in zip(sets, positions)]
            items.append(f"{key[0] if len(key) == 1 else '(' + ', '.join(key) + ')'}: "
                         f"{number_literal(value)}")
        return wrap_items(items, "{}")

    # -- model ---------------------------------------------------------------------------
    def _model_section(self) -> str:
        m = self.m
        name = (self.f.name or "nl2opt model").replace("\n", " ")
        blocks = ["# ---- MODEL " + "-" * 84 + f"\n{m} = pyo.ConcreteModel(name={name!r})"]
        blocks.append("\n".join(f"{self.names.component(s.name)} = pyo.Set(initialize="
                                f"{self.data_names[s.name]})" for s in self.f.sets))
        blocks.append("\n".join(self._param_component(p) for p in self.f.parameters))
        blocks += [self._variable(v, b) for v, b in zip(self.f.variables, self.parsed.variables)]
        blocks.append(self._objective())
        for constraint in self.parsed.constraints:
            blocks.extend(self._constraint(constraint))
        return join_blocks([block for block in blocks if block])

    def _param_component(self, param: Parameter) -> str:
        args = [self.names.component(s) for s in param.index]
        args.append(f"initialize={self.data_names[param.name]}")
        if param.index and param.default is not None:
            args.append(f"default={number_literal(float(param.default))}")
        return f"{self.names.component(param.name)} = pyo.Param({', '.join(args)})"

    def _variable(self, variable: Variable, bounds) -> str:
        args = [self.names.component(s) for s in variable.index]
        lower, upper = bounds.lower, bounds.upper
        nonnegative = lower == 0.0
        args.append("domain=" + _DOMAINS[variable.type][1 if nonnegative else 0])
        rule = ""
        numeric = isinstance(lower, float | None) and isinstance(upper, float | None)
        if variable.type is VarType.binary and numeric:
            implied = lower in (None, 0.0) and (upper is None or upper >= 1.0)
            if not implied:
                args.append(f"bounds=({bound_text(lower)}, {bound_text(upper)})")
        elif numeric:
            if upper is not None or not (nonnegative or lower is None):
                args.append(f"bounds=({bound_text(lower)}, {bound_text(upper)})")
        else:
            function = self.names.take(f"{variable.name}_bounds")
            local = self._position_locals(variable.index)
            source = self.source(local)
            params = {p.name: p.index for p in self.f.parameters}
            texts = [bound_text(b) if isinstance(b, float | None)
                     else source.show(element_bound(b.tree, variable.index, params), 0)
                     for b in (lower, upper)]
            signature = ", ".join([self.m, *local.values()])
            rule = (f"def {function}({signature}):\n"
                    f"    return ({texts[0]}, {texts[1]})\n\n\n")
            args.append(f"bounds={function}")
        line = f"{self.names.component(variable.name)} = pyo.Var({', '.join(args)})"
        return rule + comment(line, variable.description)

    def _position_locals(self, index: list[str]) -> dict[str, str]:
        """{position name: argument of the bounds function}: n, or n_0 and n_1 over
        (N, N), never two alike."""
        local: dict[str, str] = {}
        for k, (position, set_name) in enumerate(zip(position_names(index), index)):
            candidate = set_name.lower() if position == set_name else f"{set_name.lower()}_{k}"
            while self.names.local(candidate) in local.values():
                candidate += "_"
            local[position] = self.names.local(candidate)
        return local

    def _objective(self) -> str:
        function = self.names.take("objective_rule")
        body = self.source({}).show(self.parsed.objective.tree, 0)
        sense = "pyo.maximize" if self.f.objective.sense is Sense.maximize else "pyo.minimize"
        doc = docstring_line(self.f.objective.description)
        return (f"def {function}({self.m}):\n{doc}{return_line(body)}\n\n\n"
                f"{self.names.component('objective', 'objective')} = pyo.Objective("
                f"rule={function}, sense={sense})")

    def _constraint(self, constraint: ParsedConstraint) -> list[str]:
        local = {index: self.names.local(index) for index, _ in constraint.forall}
        source = self.source(local)
        tree: E.Compare = constraint.relation.tree  # type: ignore[assignment]
        relations = self._relations(tree, source, local)
        description = self.descriptions.get(constraint.name, "")
        blocks = []
        for relation, kind in zip(relations, ("constraint", "upper")):
            attribute = self.names.component(constraint.name, kind)
            function = self.names.take(f"{attribute.split('.', 1)[1]}_rule")
            signature = ", ".join([self.m, *local.values()])
            body = docstring_line(description if kind == "constraint" else "")
            if constraint.where is not None:
                condition = self.source(local, True).show(constraint.where.tree, 0)
                body += f"    if not ({condition}):\n        return pyo.Constraint.Skip\n"
            sets = [self.names.component(s) for _, s in constraint.forall]
            blocks.append(f"def {function}({signature}):\n{body}{return_line(relation)}\n\n\n"
                          f"{attribute} = pyo.Constraint("
                          f"{', '.join(sets + [f'rule={function}'])})")
        return blocks

    def _relations(self, tree: E.Compare, source: _Source, local: dict) -> list[str]:
        """Python source of the relation(s): `a <= b`, or pyo.inequality for ranges."""
        ops = [{"<": "<=", ">": ">="}.get(op, op) for op in tree.ops]
        sides = [source.show(operand, 5) for operand in tree.operands]
        if len(sides) == 3:
            low, middle, high = (0, 1, 2) if ops[0] == "<=" else (2, 1, 0)
            constant = [degree(tree.operands[k], self.variables, frozenset(local)) == 0
                        for k in (low, high)]
            if all(constant):
                return [f"pyo.inequality({source.show(tree.operands[low], 0)}, "
                        f"{source.show(tree.operands[middle], 0)}, "
                        f"{source.show(tree.operands[high], 0)})"]
        return [f"{left} {op} {right}" for op, left, right in zip(ops, sides, sides[1:])]

    # -- solve ---------------------------------------------------------------------------
    def _solve_section(self, solver: str) -> str:
        m = self.m
        objective = self.names.component("objective", "objective")
        return f'''# ---- SOLVE {"-" * 84}
if __name__ == "__main__":
    solver = pyo.SolverFactory({solver!r})
    results = solver.solve({m}, load_solutions=False)
    condition = results.solver.termination_condition
    print(f"Termination: {{condition}}")
    if pyo.check_optimal_termination(results):
        {m}.solutions.load_from(results)
        print(f"Objective: {{pyo.value({objective}):.10g}}")
        for var in {m}.component_objects(pyo.Var, active=True):
            for index in var:
                value = var[index].value
                if value is not None and abs(value) > 1e-9:
                    print(f"  {{var[index].name}} = {{value:.10g}}")
        print(f"OBJECTIVE = {{float(pyo.value({objective}))!r}}")
    else:
        print(f"STATUS = {{condition}}")'''


# -- text helpers ------------------------------------------------------------------------------
