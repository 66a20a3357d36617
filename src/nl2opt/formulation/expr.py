"""nl2opt's own expression tree: small frozen nodes, built only by the parser.

Nothing here runs user text. Every node records its span (start, end columns)
in the source string so that errors can point at it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterator, Union

Span = tuple[int, int]

FUNCTIONS = ("abs", "min", "max", "exp", "log", "sqrt", "sin", "cos", "tan", "len")
ARITHMETIC_OPS = ("+", "-", "*", "/", "**")
COMPARE_OPS = ("<=", ">=", "==", "<", ">", "!=")
RELATION_OPS = ("<=", ">=", "==")


@dataclass(frozen=True)
class Num:
    value: float
    span: Span = field(default=(0, 0), compare=False)


@dataclass(frozen=True)
class Str:
    """A string literal, used as a set element, e.g. x['bread']."""

    value: str
    span: Span = field(default=(0, 0), compare=False)


@dataclass(frozen=True)
class Name:
    id: str
    span: Span = field(default=(0, 0), compare=False)


@dataclass(frozen=True)
class Index:
    """`name[i, j]`: an element of an indexed parameter or variable."""

    name: str
    indices: tuple["Expr", ...]
    span: Span = field(default=(0, 0), compare=False)


@dataclass(frozen=True)
class Unary:
    op: str  # "-" or "+"
    operand: "Expr"
    span: Span = field(default=(0, 0), compare=False)


@dataclass(frozen=True)
class Binary:
    op: str  # one of ARITHMETIC_OPS
    left: "Expr"
    right: "Expr"
    span: Span = field(default=(0, 0), compare=False)


@dataclass(frozen=True)
class Call:
    func: str  # one of FUNCTIONS
    args: tuple["Expr", ...]
    span: Span = field(default=(0, 0), compare=False)


@dataclass(frozen=True)
class Generator:
    """`for var in set_name if cond1 if cond2`."""

    var: str
    set_name: str
    conditions: tuple["Expr", ...] = ()
    span: Span = field(default=(0, 0), compare=False)


@dataclass(frozen=True)
class Sum:
    body: "Expr"
    generators: tuple[Generator, ...]
    span: Span = field(default=(0, 0), compare=False)


@dataclass(frozen=True)
class Compare:
    """A chain `a op b op c`, as in `lo <= x <= hi` or `i != j`."""

    operands: tuple["Expr", ...]
    ops: tuple[str, ...]
    span: Span = field(default=(0, 0), compare=False)


@dataclass(frozen=True)
class BoolOp:
    op: str  # "and" or "or"
    values: tuple["Expr", ...]
    span: Span = field(default=(0, 0), compare=False)


@dataclass(frozen=True)
class Not:
    operand: "Expr"
    span: Span = field(default=(0, 0), compare=False)


Expr = Union[Num, Str, Name, Index, Unary, Binary, Call, Sum, Compare, BoolOp, Not]


def children(node: Expr) -> Iterator[Expr]:
    """The direct sub-expressions of a node (generator conditions included)."""
    if isinstance(node, Index):
        yield from node.indices
    elif isinstance(node, Unary | Not):
        yield node.operand
    elif isinstance(node, Binary):
        yield node.left
        yield node.right
    elif isinstance(node, Call):
        yield from node.args
    elif isinstance(node, Sum):
        yield node.body
        for generator in node.generators:
            yield from generator.conditions
    elif isinstance(node, Compare):
        yield from node.operands
    elif isinstance(node, BoolOp):
        yield from node.values


def walk(node: Expr) -> Iterator[Expr]:
    """Every node of the tree, parents before children."""
    stack = [node]
    while stack:
        current = stack.pop()
        yield current
        stack.extend(reversed(list(children(current))))


def names_in(node: Expr) -> set[str]:
    """The names of parameters, variables, sets and indices the tree mentions."""
    found = set()
    for part in walk(node):
        if isinstance(part, Index):
            found.add(part.name)
        elif isinstance(part, Name):
            found.add(part.id)
    return found


def to_source(node: Expr) -> str:
    """Canonical Python-like text for a tree (fully parenthesised where needed)."""
    return _Printer().show(node, 0)


_PRECEDENCE = {"or": 1, "and": 2, "not": 3, "cmp": 4, "+": 5, "-": 5, "*": 6, "/": 6,
               "unary": 7, "**": 8}


class _Printer:
    def show(self, node: Expr, parent: int) -> str:
        text, own = self._render(node)
        return f"({text})" if own < parent else text

    def _render(self, node: Expr) -> tuple[str, int]:
        if isinstance(node, Num):
            value = node.value
            if isinstance(value, int):  # exact, however many digits
                return repr(value), 9
            return (repr(int(value)) if float(value).is_integer() and abs(value) < 1e15
                    else repr(float(value))), 9
        if isinstance(node, Str):
            return repr(node.value), 9
        if isinstance(node, Name):
            return node.id, 9
        if isinstance(node, Index):
            return f"{node.name}[{', '.join(self.show(i, 0) for i in node.indices)}]", 9
        if isinstance(node, Call):
            return f"{node.func}({', '.join(self.show(a, 0) for a in node.args)})", 9
        if isinstance(node, Sum):
            return f"sum({self.show(node.body, 0)} {self._generators(node.generators)})", 9
        if isinstance(node, Unary):
            return f"{node.op}{self.show(node.operand, _PRECEDENCE['unary'])}", 7
        if isinstance(node, Binary):
            level = _PRECEDENCE[node.op]
            # ** is right-associative, the others left-associative.
            left_level, right_level = (level + 1, level) if node.op == "**" else (level, level + 1)
            return (f"{self.show(node.left, left_level)} {node.op} "
                    f"{self.show(node.right, right_level)}"), level
        if isinstance(node, Compare):
            parts = [self.show(node.operands[0], 5)]
            for op, operand in zip(node.ops, node.operands[1:]):
                parts.append(f"{op} {self.show(operand, 5)}")
            return " ".join(parts), 4
        if isinstance(node, BoolOp):
            level = _PRECEDENCE[node.op]
            return f" {node.op} ".join(self.show(v, level + 1) for v in node.values), level
        if isinstance(node, Not):
            return f"not {self.show(node.operand, 3)}", 3
        raise TypeError(f"not an expression node: {node!r}")

    def _generators(self, generators: tuple[Generator, ...]) -> str:
        parts = []
        for generator in generators:
            parts.append(f"for {generator.var} in {generator.set_name}")
            parts.extend(f"if {self.show(c, 2)}" for c in generator.conditions)
        return " ".join(parts)
