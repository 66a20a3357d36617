"""Compile a formulation into solver-neutral arrays (the fast path).

`ArrayModel` holds columns with bounds and integrality, a linear objective
with an optional quadratic part, and a sparse constraint matrix with row
bounds, plus the map back to user names: column k is `x['chair', 3]`, row r
is `capacity['oven']`. HiGHS, CP-SAT and the diagnosis all work from it.
Models with constraints beyond linear raise `NonlinearTerm`; those go
through the Pyomo path instead.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from nl2opt.errors import CompileError, FormulationError
from nl2opt.formulation import expr as E
from nl2opt.formulation.bounds import position_names, readable_bound
from nl2opt.formulation.data import ModelData, resolve_data
from nl2opt.formulation.evaluate import Evaluator, NonlinearTerm, VariableLayout
from nl2opt.formulation.model import Formulation, Sense, VarType
from nl2opt.formulation.parsed import (
    ParsedConstraint,
    ParsedFormulation,
    ParsedText,
    parse_formulation,
)
from nl2opt.formulation.size import check_model_size
from nl2opt.formulation.values import Const, Frame, Lin, Quad, as_lin, product_frame

INF = float("inf")


@dataclass(frozen=True)
class RowBlock:
    """The rows one constraint produced: rows [offset, offset + size)."""

    name: str
    offset: int
    frame: Frame

    @property
    def size(self) -> int:
        return self.frame.size


@dataclass
class ArrayModel:
    sense: Sense
    variables: list[VariableLayout]
    col_lower: np.ndarray
    col_upper: np.ndarray
    integrality: np.ndarray  # 1 = integer, 0 = continuous
    objective: np.ndarray
    objective_offset: float
    quadratic: sp.coo_matrix | None  # symmetric-free: coef * x_i * x_j entries, i <= j
    matrix: sp.csr_matrix
    row_lower: np.ndarray
    row_upper: np.ndarray
    rows: list[RowBlock]
    data: ModelData

    @property
    def num_cols(self) -> int:
        return len(self.col_lower)

    @property
    def num_rows(self) -> int:
        return len(self.row_lower)

    def column_label(self, column: int) -> tuple[str, tuple]:
        for layout in self.variables:
            if layout.offset <= column < layout.offset + layout.size:
                flat = column - layout.offset
                positions = np.unravel_index(flat, layout.shape) if layout.sets else ()
                return layout.name, tuple(s.elements[int(p)]
                                          for s, p in zip(layout.sets, positions))
        raise IndexError(column)

    def row_label(self, row: int) -> tuple[str, tuple]:
        for block in self.rows:
            if block.offset <= row < block.offset + block.size:
                return block.name, block.frame.labels(row - block.offset)
        raise IndexError(row)


def format_label(name: str, key: tuple) -> str:
    """`x['chair', 3]` style text for a named instance."""
    return f"{name}[{', '.join(repr(k) for k in key)}]" if key else name


def parse_or_raise(formulation: Formulation) -> ParsedFormulation:
    """Every expression parsed; FormulationError with every parse error otherwise."""
    parsed, errors = parse_formulation(formulation)
    if parsed is None:
        raise FormulationError("the formulation has expression errors:\n"
                               + "\n".join(str(e) for e in errors), errors)
    return parsed


def prepare(formulation: Formulation) -> tuple[ParsedFormulation, ModelData]:
    """Parse and resolve data, raising FormulationError with every parse error."""
    return parse_or_raise(formulation), resolve_data(formulation)


def compile_arrays(formulation: Formulation, parsed: ParsedFormulation | None = None,
                   data: ModelData | None = None, size_checked: bool = False) -> ArrayModel:
    """Formulation -> ArrayModel. Raises NonlinearTerm for non-quadratic or
    quadratic-constraint models, CompileError for data problems, ModelTooLargeError
    (a CompileError) when the size estimate is above the limit (`size_checked`: the
    caller already ran `check_model_size` on this parse and data)."""
    if parsed is None or data is None:
        parsed, data = prepare(formulation)
    if not size_checked:
        check_model_size(formulation, parsed, data.set_sizes())  # before allocating anything
    layouts = _layout(formulation, data)
    by_name = {layout.name: layout for layout in layouts}
    num_cols = sum(layout.size for layout in layouts)
    lower, upper, integrality = _columns(formulation, parsed, data, by_name, num_cols)
    objective, offset, quadratic = _objective(parsed.objective, data, by_name, num_cols)
    matrix, row_lower, row_upper, blocks = _constraints(parsed.constraints, data, by_name,
                                                        num_cols)
    return ArrayModel(formulation.objective.sense, layouts, lower, upper, integrality, objective,
                      offset, quadratic, matrix, row_lower, row_upper, blocks, data)


def _layout(formulation: Formulation, data: ModelData) -> list[VariableLayout]:
    layouts, offset = [], 0
    for variable in formulation.variables:
        missing = [s for s in variable.index if s not in data.sets]
        if missing:
            raise CompileError(f"variable '{variable.name}' is indexed over undeclared set(s) "
                               f"{', '.join(missing)}; declare them under 'sets'")
        layout = VariableLayout(variable.name, tuple(data.sets[s] for s in variable.index),
                                offset)
        layouts.append(layout)
        offset += layout.size
    return layouts


def _columns(formulation: Formulation, parsed: ParsedFormulation, data: ModelData,
             layouts: dict[str, VariableLayout], num_cols: int):
    lower = np.zeros(num_cols)
    upper = np.full(num_cols, INF)
    integrality = np.zeros(num_cols, dtype=np.int8)
    for variable, bounds in zip(formulation.variables, parsed.variables):
        layout = layouts[variable.name]
        block = slice(layout.offset, layout.offset + layout.size)
        frame = product_frame(list(zip(position_names(variable.index), layout.sets)))
        lower[block] = _bound(bounds.lower, -INF, frame, data, layouts, variable)
        upper[block] = _bound(bounds.upper, INF, frame, data, layouts, variable)
        if variable.type is VarType.binary:
            lower[block] = np.maximum(lower[block], 0.0)
            upper[block] = np.minimum(upper[block], 1.0)
        if variable.type is not VarType.continuous:
            integrality[block] = 1
    return lower, upper, integrality


def _bound(bound, missing: float, frame: Frame, data: ModelData, layouts, variable):
    if bound is None:
        return missing
    if isinstance(bound, float):
        return bound
    tree = readable_bound(bound, variable.name, variable.index, data.params)
    value = Evaluator(data, layouts, bound.element, bound.text).numeric(tree, frame)
    if not isinstance(value, Const):
        raise CompileError(f"{bound.element}: a bound must not involve decision variables; "
                           "write it as a constraint")
    return value.values


def _objective(objective: ParsedText, data: ModelData, layouts, num_cols: int):
    evaluator = Evaluator(data, layouts, objective.element, objective.text)
    value = evaluator.numeric(objective.tree, Frame(1))
    quadratic = None
    if isinstance(value, Quad):
        first = np.minimum(value.cols1, value.cols2)
        second = np.maximum(value.cols1, value.cols2)
        quadratic = sp.coo_matrix((value.coefs, (first, second)), shape=(num_cols, num_cols))
        quadratic.sum_duplicates()
        value = value.lin
    lin = as_lin(value)
    coefficients = np.bincount(lin.cols, weights=lin.coefs, minlength=num_cols).astype(float)
    return coefficients, float(lin.const[0]), quadratic


def _constraints(constraints: tuple[ParsedConstraint, ...], data: ModelData, layouts,
                 num_cols: int):
    rows_, cols_, coefs_, lowers, uppers, blocks = [], [], [], [], [], []
    offset = 0
    for constraint in constraints:
        frame = _forall_frame(constraint, data, layouts)
        for lin, low, high in _row_groups(constraint, frame, data, layouts):
            rows_.append(lin.rows + offset)
            cols_.append(lin.cols)
            coefs_.append(lin.coefs)
            lowers.append(low)
            uppers.append(high)
            blocks.append(RowBlock(constraint.name, offset, frame))
            offset += frame.size
    if not blocks:
        return (sp.csr_matrix((0, num_cols)), np.zeros(0), np.zeros(0), [])
    matrix = sp.csr_matrix((np.concatenate(coefs_),
                            (np.concatenate(rows_), np.concatenate(cols_))),
                           shape=(offset, num_cols))
    matrix.sum_duplicates()
    matrix.eliminate_zeros()
    return matrix, np.concatenate(lowers), np.concatenate(uppers), blocks


def _forall_frame(constraint: ParsedConstraint, data: ModelData, layouts) -> Frame:
    bindings = []
    for index_name, set_name in constraint.forall:
        if set_name not in data.sets:
            raise CompileError(f"{constraint.element}: forall '{index_name} in {set_name}': "
                               f"'{set_name}' is not a declared set")
        bindings.append((index_name, data.sets[set_name]))
    frame = product_frame(bindings)
    if constraint.where is not None:
        evaluator = Evaluator(data, layouts, constraint.where.element, constraint.where.text)
        frame = frame.take(np.flatnonzero(evaluator.mask(constraint.where.tree, frame)))
    return frame


def _row_groups(constraint: ParsedConstraint, frame: Frame, data: ModelData, layouts):
    """(lin, lower, upper) per row group: one for `a op b` and for constant-ended ranges."""
    relation = constraint.relation
    tree: E.Compare = relation.tree  # type: ignore[assignment]
    evaluator = Evaluator(data, layouts, relation.element, relation.text)
    sides = [_linear_side(evaluator, operand, frame, constraint) for operand in tree.operands]
    if len(sides) == 3 and _is_constant(sides[0]) and _is_constant(sides[2]):
        low, middle, high = sides if tree.ops[0] in ("<=", "<") else sides[::-1]
        return [(_without_const(middle), low.const - middle.const,
                 high.const - middle.const)]
    groups = []
    for op, left, right in zip(tree.ops, sides, sides[1:]):
        difference = _subtract(left, right)
        bound = -difference.const
        none = np.full(frame.size, INF)
        low, high = {"<=": (-none, bound), "<": (-none, bound), ">=": (bound, none),
                     ">": (bound, none), "==": (bound, bound)}[op]
        groups.append((_without_const(difference), low, high))
    return groups


def _linear_side(evaluator: Evaluator, operand: E.Expr, frame: Frame,
                 constraint: ParsedConstraint) -> Lin:
    value = evaluator.numeric(operand, frame)
    if isinstance(value, Quad):
        raise NonlinearTerm(f"{constraint.element}: quadratic terms in a constraint; "
                            "this needs the Pyomo/SCIP path")
    return as_lin(value)


def _is_constant(lin: Lin) -> bool:
    return len(lin.coefs) == 0 or not np.any(lin.coefs)


def _subtract(left: Lin, right: Lin) -> Lin:
    return Lin(left.const - right.const, np.concatenate([left.rows, right.rows]),
               np.concatenate([left.cols, right.cols]),
               np.concatenate([left.coefs, -right.coefs]))


def _without_const(lin: Lin) -> Lin:
    return Lin(np.zeros_like(lin.const), lin.rows, lin.cols, lin.coefs)
