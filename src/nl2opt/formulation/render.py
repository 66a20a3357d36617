"""Render a formulation for people: Markdown with embedded math, or a LaTeX snippet.

Everything is printed from parsed expression trees and resolved data; no text
from the formulation is ever evaluated. Pieces that do not parse are shown
verbatim (as code), so a broken formulation can still be read and repaired.
"""

from __future__ import annotations

import itertools
import math
from typing import Mapping, Sequence

import numpy as np

from nl2opt.errors import Nl2OptError
from nl2opt.formulation import expr as E
from nl2opt.formulation.data import ModelData, ParamData, resolve_data
from nl2opt.formulation.model import Constraint, Formulation, Parameter, SetDef, Variable
from nl2opt.formulation.parser import parse_expression, parse_forall, parse_relation

MAX_TABLE = 12  # rows / columns shown of a parameter table
MAX_ELEMENTS = 8  # set elements listed in full; longer sets are abbreviated
_RELATIONS = {"<=": r"\le", ">=": r"\ge", "==": "=", "<": "<", ">": ">", "!=": r"\ne"}
_FUNCTIONS = {"exp": r"\exp", "log": r"\log", "sin": r"\sin", "cos": r"\cos", "tan": r"\tan",
              "min": r"\min", "max": r"\max"}
_TEXT_ESCAPES = {"\\": r"\textbackslash{}", "{": r"\{", "}": r"\}", "$": r"\$", "&": r"\&",
                 "#": r"\#", "%": r"\%", "_": r"\_", "^": r"\textasciicircum{}",
                 "~": r"\textasciitilde{}", "\n": " ", "\r": " "}
_MD_SPECIAL = set("\\`*_$|<>[]#")
_ATOM = 9


# -- expressions -------------------------------------------------------------------------
def expression_to_latex(tree: E.Expr, names: Mapping[str, str] | None = None) -> str:
    """LaTeX (math mode) for a parsed expression tree.

    `names` overrides how particular names print, e.g. {"P": "p"} inside a
    variable bound where the set name stands for the current element.
    """
    return _Latex(dict(names or {})).show(tree, 0)


def latex_name(name: str) -> str:
    """A user name in math: one letter as is, longer names upright-italic and escaped."""
    if len(name) == 1 and name.isascii() and name.isalpha():
        return name
    if name.isascii() and name.isidentifier():
        return r"\mathit{" + name.replace("_", r"\_") + "}"
    # Anything else (a formulation need not pass `check` to be rendered) is text, escaped:
    # a name such as 'x}\input{/etc/passwd}' must not become LaTeX commands.
    return r"\text{" + latex_text(name) + "}"


def latex_text(text: str) -> str:
    """Text escaped for LaTeX text mode (inside \\text{...} or a paragraph)."""
    return "".join(_TEXT_ESCAPES.get(char, char) for char in text)


class _Latex:
    """Precedence-aware printer; levels as in expr.to_source (9 = atom)."""

    def __init__(self, names: dict[str, str]) -> None:
        self.names = names

    def show(self, node: E.Expr, parent: int) -> str:
        text, own = getattr(self, "_" + type(node).__name__.lower())(node)
        return rf"\left({text}\right)" if own < parent else text

    def _num(self, node: E.Num) -> tuple[str, int]:
        return latex_number(node.value)

    def _str(self, node: E.Str) -> tuple[str, int]:
        return r"\text{" + latex_text(node.value) + "}", _ATOM

    def _name(self, node: E.Name) -> tuple[str, int]:
        return self.names.get(node.id) or latex_name(node.id), _ATOM

    def _index(self, node: E.Index) -> tuple[str, int]:
        indices = ",".join(self.show(index, 0) for index in node.indices)
        return f"{latex_name(node.name)}_{{{indices}}}", _ATOM

    def _unary(self, node: E.Unary) -> tuple[str, int]:
        return node.op + self.show(node.operand, 7), 7

    def _binary(self, node: E.Binary) -> tuple[str, int]:
        if node.op == "/":
            return rf"\frac{{{self.show(node.left, 0)}}}{{{self.show(node.right, 0)}}}", 8
        if node.op == "**":
            return f"{self.show(node.left, _ATOM)}^{{{self.show(node.right, 0)}}}", 8
        if node.op == "*":
            return self._product(node), 6
        right = self._operand(node.right, 6)
        return f"{self.show(node.left, 5)} {node.op} {right}", 5

    def _product(self, node: E.Binary) -> str:
        # A sum on the left would swallow the next factor: (sum a) b, not sum (a b).
        left = self.show(node.left, _ATOM if isinstance(node.left, E.Sum) else 6)
        right = self._operand(node.right, 7)
        # Juxtaposition reads as a product unless it would glue numbers or a fraction on;
        # two multi-letter names need a thin space or they read as one word.
        if right[:1].isdigit() or right.startswith((".", r"\frac")):
            glue = r" \cdot "
        else:
            glue = r" \, " if right.startswith(r"\mathit") else " "
        return left + glue + right

    def _operand(self, node: E.Expr, level: int) -> str:
        """Right operand of a binary operator; a signed one gets parentheses."""
        return self.show(node, _ATOM if isinstance(node, E.Unary) else level)

    def _call(self, node: E.Call) -> tuple[str, int]:
        args = [self.show(arg, 0) for arg in node.args]
        if node.func == "sqrt":
            return r"\sqrt{" + args[0] + "}", _ATOM
        if node.func in ("abs", "len"):  # |x|, and |S| for the size of a set
            return rf"\left|{args[0]}\right|", _ATOM
        return rf"{_FUNCTIONS[node.func]}\left({', '.join(args)}\right)", _ATOM

    def _sum(self, node: E.Sum) -> tuple[str, int]:
        bindings = ", ".join(rf"{latex_name(g.var)} \in {latex_name(g.set_name)}"
                             for g in node.generators)
        tests = [c for g in node.generators for c in g.conditions]
        conditions = [self.show(c, 2 if len(tests) > 1 else 0) for c in tests]
        below = bindings + (" : " + r" \land ".join(conditions) if conditions else "")
        return rf"\sum_{{{below}}} {self.show(node.body, 6)}", 6

    def _compare(self, node: E.Compare) -> tuple[str, int]:
        parts = [self.show(node.operands[0], 5)]
        for op, operand in zip(node.ops, node.operands[1:]):
            parts.append(f"{_RELATIONS[op]} {self.show(operand, 5)}")
        return " ".join(parts), 4

    def _boolop(self, node: E.BoolOp) -> tuple[str, int]:
        level = 1 if node.op == "or" else 2
        joiner = r" \lor " if node.op == "or" else r" \land "
        return joiner.join(self.show(v, level + 1) for v in node.values), level

    def _not(self, node: E.Not) -> tuple[str, int]:
        return r"\lnot " + self.show(node.operand, 3), 3


def latex_number(value: float) -> tuple[str, int]:
    """A number in LaTeX and its precedence (scientific notation is a product)."""
    if isinstance(value, int) or (float(value).is_integer() and abs(value) < 1e15):
        return str(int(value)), _ATOM
    text = f"{float(value):.10g}"
    if "e" not in text:
        return text, _ATOM
    mantissa, exponent = text.split("e")
    power = rf"10^{{{int(exponent)}}}"
    return (power, _ATOM) if mantissa == "1" else (rf"{mantissa} \cdot {power}", 6)


# -- pieces shared by both outputs -----------------------------------------------------------
def _code(text: str) -> str:
    """Verbatim fallback for text that did not parse."""
    return r"\texttt{" + latex_text(text) + "}"


def _math(text: str, relation: bool = False, names: Mapping[str, str] | None = None) -> str:
    try:
        tree = parse_relation(text) if relation else parse_expression(text)
    except Nl2OptError:
        return _code(text)
    return expression_to_latex(tree, names)


def index_symbols(set_names: Sequence[str]) -> list[str]:
    """Index letters for sets: P -> p, R -> r; repeats get primes (p, p')."""
    symbols: list[str] = []
    for set_name in set_names:
        first = set_name[:1].lower()
        symbol = first if first.isascii() and first.isalpha() else "i"
        while symbol in symbols:
            symbol += "'"
        symbols.append(symbol)
    return symbols


def _indexed(name: str, symbols: Sequence[str]) -> str:
    return latex_name(name) + ("_{" + ",".join(symbols) + "}" if symbols else "")


def _over(set_names: Sequence[str], symbols: Sequence[str]) -> str:
    return ", ".join(rf"{s} \in {latex_name(n)}" for s, n in zip(symbols, set_names))


def _objective_math(f: Formulation) -> str:
    sense = r"\max" if f.objective.sense.value == "maximize" else r"\min"
    return rf"{sense} \quad {_math(f.objective.expression)}"


def _constraint_math(constraint: Constraint) -> str:
    relation = _math(constraint.expression, relation=True)
    bindings = []
    for entry in constraint.forall:
        try:
            index, set_name = parse_forall(entry)
            bindings.append(rf"{latex_name(index)} \in {latex_name(set_name)}")
        except Nl2OptError:
            bindings.append(_code(entry))
    where = _math(constraint.where) if constraint.where else ""
    if bindings:
        return rf"{relation} \quad \forall {', '.join(bindings)}" + (f" : {where}" if where
                                                                      else "")
    return relation + (rf" \quad \text{{if }} {where}" if where else "")


def _variable_math(variable: Variable, f: Formulation) -> str:
    symbols = index_symbols(variable.index)
    term = _indexed(variable.name, symbols)
    quantifier = rf" \quad \forall {_over(variable.index, symbols)}" if symbols else ""
    if variable.type.value == "binary":
        return rf"{term} \in \{{0, 1\}}" + quantifier
    field = r"\mathbb{Z}" if variable.type.value == "integer" else r"\mathbb{R}"
    if variable.lower == 0 and variable.upper is None:
        return rf"{term} \in {field}_{{\ge 0}}" + quantifier
    names = _bound_names(variable, symbols, f)
    lower, upper = (None if b is None else _bound(b, names) for b in (variable.lower,
                                                                      variable.upper))
    chain = " ".join(p for p in (lower and rf"{lower} \le", term, upper and rf"\le {upper}")
                     if p)
    domain = rf"{term} \in {field}"
    return (domain if chain == term else rf"{chain}, \; {domain}") + quantifier


def _bound(bound, names: Mapping[str, str]) -> str:
    if isinstance(bound, (int, float)):
        return latex_number(bound)[0]
    return _math(str(bound), names=names)


def _bound_names(variable: Variable, symbols: list[str], f: Formulation) -> dict[str, str]:
    """Inside a bound, set names mean the current element and same-indexed parameters
    may appear bare: print both with the variable's index letters."""
    names = {set_name: symbol for set_name, symbol in reversed(list(zip(variable.index,
                                                                       symbols)))}
    for parameter in f.parameters:
        if parameter.index and parameter.index == variable.index:
            names[parameter.name] = _indexed(parameter.name, symbols)
    return names


def _resolve(f: Formulation) -> tuple[ModelData | None, str]:
    try:
        return resolve_data(f), ""
    except Nl2OptError as error:
        return None, str(error)


def _elements(definition: SetDef, data: ModelData | None) -> list[str] | None:
    """Set elements as text, long sets abbreviated to first, second, ..., last."""
    if data is not None and definition.name in data.sets:
        elements: Sequence = data.sets[definition.name].elements
    elif definition.elements is not None:
        elements = definition.elements
    elif definition.range is not None:
        elements = range(definition.range[0], definition.range[1] + 1)
    else:
        return None
    if len(elements) > MAX_ELEMENTS:  # never copies a long set
        return [str(elements[0]), str(elements[1]), "...", str(elements[-1])]
    return [str(e) for e in elements]


def _number_text(value: float) -> str:
    if math.isnan(value):
        return "—"
    if float(value).is_integer() and abs(value) < 1e15:
        return str(int(value))
    return f"{value:.6g}"


def _note(parameter: Parameter) -> str:
    return "; ".join(p for p in (parameter.description, parameter.unit
                                 and f"unit: {parameter.unit}") if p)


def _dash(note: str) -> str:
    """' — note' in Markdown, or nothing."""
    return f" — {md_text(note)}" if note else ""


# -- Markdown --------------------------------------------------------------------------------
def render_markdown(formulation: Formulation) -> str:
    """Markdown with $...$ / $$...$$ math (Streamlit st.markdown, GitHub)."""
    data, problem = _resolve(formulation)
    sections = [_md_header(formulation), _md_sets(formulation, data),
                _md_parameters(formulation, data, problem), _md_variables(formulation),
                _md_objective(formulation), _md_constraints(formulation)]
    return "\n\n".join(s for s in sections if s) + "\n"


def md_text(text: str) -> str:
    """Plain text with Markdown specials (and $, which opens math) escaped."""
    return "".join("\\" + c if c in _MD_SPECIAL else c for c in text).replace("\n", " ")


def _md_header(f: Formulation) -> str:
    lines = [f"# {md_text(f.name or 'Optimization model')}"]
    if f.description:
        lines += ["", md_text(f.description)]
    if f.assumptions:
        lines += ["", "**Assumptions**", ""] + [f"- {md_text(a)}" for a in f.assumptions]
    return "\n".join(lines)


def _md_sets(f: Formulation, data: ModelData | None) -> str:
    lines = []
    for definition in f.sets:
        elements = _elements(definition, data)
        shown = "{" + ", ".join(md_text(e) for e in elements) + "}" if elements is not None \
            else "(from CSV)"
        lines.append(f"- ${latex_name(definition.name)}$ = {shown}" + _dash(definition.description))
    return "## Sets\n\n" + "\n".join(lines) if lines else ""


def _md_parameters(f: Formulation, data: ModelData | None, problem: str) -> str:
    if not f.parameters:
        return ""
    blocks = [f"_Data could not be read: {md_text(problem)}_"] if problem else []
    scalars = [p for p in f.parameters if not p.index]
    blocks += ["\n".join(_md_scalar(p, data) for p in scalars)] if scalars else []
    for parameter in (p for p in f.parameters if p.index):
        symbols = index_symbols(parameter.index)
        head = f"${_indexed(parameter.name, symbols)}$, ${_over(parameter.index, symbols)}$"
        values = data.params.get(parameter.name) if data is not None else None
        table = "\n\n" + md_table(values, data) if values is not None else ""
        blocks.append(head + _dash(_note(parameter)) + table)
    return "## Parameters\n\n" + "\n\n".join(blocks)


def _md_scalar(parameter: Parameter, data: ModelData | None) -> str:
    value = parameter.value if parameter.value is not None else parameter.default
    if data is not None and parameter.name in data.params:
        value = float(data.params[parameter.name].values)
    shown = f" = {_number_text(float(value))}" if value is not None else ""
    return f"- ${latex_name(parameter.name)}{shown}$" + _dash(_note(parameter))


def md_table(param: ParamData, sets: ModelData | None = None, limit: int = MAX_TABLE) -> str:
    """A parameter's values as a Markdown table (rows = first index, columns = second),
    truncated to `limit` rows/columns with a note; 3+ indices give a long table."""
    elements, values = _param_elements(param, sets, limit), param.values
    if len(param.index) == 2:
        rows, cols = elements
        header = [f"{param.index[0]} \\ {param.index[1]}", *cols]
        body = [[row, *(_number_text(v) for v in values[r, :limit])]
                for r, row in enumerate(rows)]
        notes = (_cut_note(values.shape[0], limit, "rows")
                 + _cut_note(values.shape[1], limit, "columns"))
    else:
        header = [*param.index, param.name]
        cells = itertools.islice(np.ndindex(values.shape), limit)
        body = [[*(elements[k][i] for k, i in enumerate(at)), _number_text(values[at])]
                for at in cells]
        notes = _cut_note(values.size, limit, "rows" if values.ndim == 1 else "entries")
    table = [_md_row(header), "|" + "---|" + "---:|" * (len(header) - 1)]
    return "\n".join(table + [_md_row(r) for r in body] + ([""] + notes if notes else []))


def _param_elements(param: ParamData, sets: ModelData | None, limit: int) -> list[list[str]]:
    """Labels of the first `limit` elements of each index set (all a table can show)."""
    if sets is None or any(s not in sets.sets for s in param.index):
        return [[str(i + 1) for i in range(min(n, limit))] for n in param.values.shape]
    return [[str(e) for e in sets.sets[s].elements[:limit]] for s in param.index]


def _cut_note(total: int, limit: int, what: str) -> list[str]:
    return [f"_Showing the first {limit} of {total} {what}._"] if total > limit else []


def _md_row(cells: Sequence[str]) -> str:
    return "| " + " | ".join(md_text(str(c)) for c in cells) + " |"


def _md_variables(f: Formulation) -> str:
    lines = [f"- ${_variable_math(v, f)}$" + _dash(v.description) for v in f.variables]
    return "## Variables\n\n" + "\n".join(lines)


def _md_objective(f: Formulation) -> str:
    note = f"\n\n{md_text(f.objective.description)}" if f.objective.description else ""
    return f"## Objective\n\n$$\n{_objective_math(f)}\n$$" + note


def _md_constraints(f: Formulation) -> str:
    blocks = [f"**{md_text(c.name)}**{_dash(c.description)}\n\n$$\n{_constraint_math(c)}\n$$"
              for c in f.constraints]
    return "## Constraints\n\n" + "\n\n".join(blocks) if blocks else ""


# -- LaTeX -----------------------------------------------------------------------------------
def render_latex(formulation: Formulation) -> str:
    """A standalone LaTeX snippet (amsmath + amssymb; no preamble): the title as comments,
    then one align* with sets, parameters, variables, objective and constraints."""
    data, _ = _resolve(formulation)
    rows = [*_tex_section("Sets", _tex_sets(formulation, data)),
            *_tex_section("Parameters", _tex_parameters(formulation, data)),
            *_tex_section("Variables", [(_variable_math(v, formulation), v.description)
                                        for v in formulation.variables]),
            (r"\text{Objective:} \quad & " + _objective_math(formulation), ""),
            *_tex_section("Subject to", [(_constraint_math(c), f"({c.name})")
                                         for c in formulation.constraints])]
    lines = [_tex_row(math_part, note) for math_part, note in rows]
    body = " \\\\\n".join(lines)
    return "\n".join([*_tex_comments(formulation), r"\begin{align*}", body,
                      r"\end{align*}"]) + "\n"


def _tex_comments(f: Formulation) -> list[str]:
    text = [f.name or "Optimization model", f.description, *f.assumptions]
    return [r"% requires \usepackage{amsmath,amssymb}"] + [
        "% " + " ".join(t.split()) for t in text if t]


def _tex_section(title: str, rows: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """Label the first row of a section in the left column; the rest align under it."""
    return [((rf"\text{{{title}:}} \quad & " if k == 0 else "& ") + m, note)
            for k, (m, note) in enumerate(rows)]


def _tex_row(math_part: str, note: str) -> str:
    return math_part + (rf" && \text{{{latex_text(note)}}}" if note else "")


def _tex_sets(f: Formulation, data: ModelData | None) -> list[tuple[str, str]]:
    rows = []
    for definition in f.sets:
        elements = _elements(definition, data)
        shown = (r"\{" + ", ".join(r"\ldots" if e == "..." else _tex_element(e)
                                   for e in elements) + r"\}") if elements is not None \
            else r"\text{(from CSV)}"
        rows.append((f"{latex_name(definition.name)} = {shown}", definition.description))
    return rows


def _tex_element(element: str) -> str:
    return element if element.lstrip("-").isdigit() else r"\text{" + latex_text(element) + "}"


def _tex_parameters(f: Formulation, data: ModelData | None) -> list[tuple[str, str]]:
    rows = []
    for parameter in f.parameters:
        symbols = index_symbols(parameter.index)
        term = _indexed(parameter.name, symbols)
        if symbols:
            term += rf", \; {_over(parameter.index, symbols)}"
        elif data is not None and parameter.name in data.params:
            term += " = " + latex_number(float(data.params[parameter.name].values))[0]
        rows.append((term, _note(parameter)))
    return rows
