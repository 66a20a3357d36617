"""Parse expression strings into nl2opt's expression tree, under an allow-list.

The text is parsed with `ast.parse` (which only builds a syntax tree and runs
nothing) and every node is translated explicitly; anything not on the
allow-list is an `ExpressionError` that names the construct, points at it and
says what to write instead. No `eval`, `exec`, `compile` or sympy parsing is
ever applied to the text.
"""

from __future__ import annotations

import ast
import math
import re
import warnings
from dataclasses import dataclass
from functools import lru_cache

from nl2opt.errors import ExpressionError
from nl2opt.formulation import expr as E

MAX_LENGTH = 20_000
MAX_DEPTH = 60
MAX_LITERAL_DIGITS = 40

_ALLOWED_HINT = ("allowed: numbers, names, indexing x[i, j], + - * / **, parentheses, "
                 "sum(e for i in S if cond), comparisons, and/or/not, and the functions "
                 + ", ".join(E.FUNCTIONS))
_BIN_OPS = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.Pow: "**"}
_CMP_OPS = {ast.LtE: "<=", ast.GtE: ">=", ast.Eq: "==", ast.Lt: "<", ast.Gt: ">",
            ast.NotEq: "!="}
_INVERSE = {"+": "-", "-": "+", "*": "/", "/": "*"}
_FAMILY = {ast.Add: (ast.Add, ast.Sub), ast.Sub: (ast.Add, ast.Sub),
           ast.Mult: (ast.Mult, ast.Div), ast.Div: (ast.Mult, ast.Div)}
# Chains shorter than this keep Python's left-deep shape (and their printed form).
BALANCE_CHAINS_FROM = 32
_FORALL = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s+in\s+([A-Za-z_][A-Za-z0-9_]*)\s*$")


def parse_expression(text: str, element: str = "") -> E.Expr:
    """Parse one arithmetic or logical expression (no top-level relation check)."""
    if not isinstance(text, str):
        return _Translator(text, element).run()  # raises the type error
    return _parse_cached(text, element)


# Trees are immutable, so one parse serves validation, classification and compilation
# of the same formulation (errors are not cached: they are raised afresh each time).
@lru_cache(maxsize=2048)
def _parse_cached(text: str, element: str) -> E.Expr:
    return _Translator(text, element).run()


def parse_relation(text: str, element: str = "") -> E.Compare:
    """Parse a constraint: `lhs <= rhs`, `lhs == rhs`, `lhs >= rhs` or `lo <= e <= hi`."""
    tree = parse_expression(text, element)
    if not isinstance(tree, E.Compare):
        raise ExpressionError(
            "a constraint must be a relation such as 'lhs <= rhs', 'lhs == rhs', 'lhs >= rhs' "
            "or 'lo <= expr <= hi'", text=text, position=0, element=element)
    ops = tree.ops
    allowed = {"<=", ">=", "==", "<", ">"}
    bad = [op for op in ops if op not in allowed]
    if bad or len(ops) > 2 or (len(ops) == 2 and _direction(ops[0]) != _direction(ops[1])):
        raise ExpressionError(
            f"relation '{' '.join(ops)}' is not allowed: use one of <=, >=, == or a ranged "
            "'lo <= expr <= hi' (both signs pointing the same way)",
            text=text, position=tree.operands[1].span[0] if len(tree.operands) > 1 else 0,
            element=element)
    if len(ops) == 2 and "==" in ops:
        raise ExpressionError("a ranged relation cannot contain '=='; write two constraints",
                              text=text, position=0, element=element)
    return tree


def parse_forall(text: str, element: str = "") -> tuple[str, str]:
    """Parse one binding like 'm in M' into (index name, set name)."""
    match = _FORALL.match(text)
    if not match:
        raise ExpressionError(
            "a forall entry must look like 'i in S' (one index name, the word in, one set "
            "name); bind several indices with several entries, e.g. [\"i in I\", \"j in J\"]",
            text=text, position=0, element=element)
    return match.group(1), match.group(2)


def _direction(op: str) -> str:
    return "up" if op in ("<=", "<") else "down" if op in (">=", ">") else "eq"


@dataclass
class _Translator:
    text: str
    element: str

    def run(self) -> E.Expr:
        if not isinstance(self.text, str):
            raise ExpressionError(f"expected an expression string, got {type(self.text).__name__}",
                                  element=self.element)
        if len(self.text) > MAX_LENGTH:
            raise ExpressionError(f"expression is {len(self.text)} characters long; the limit "
                                  f"is {MAX_LENGTH}: move data into parameters",
                                  text=self.text[:80], position=0, element=self.element)
        # Eval mode rejects leading indentation; error columns refer to the stripped text.
        self.text = self.text.strip()
        if not self.text:
            raise ExpressionError("expression is empty", element=self.element)
        self._line_starts = _line_starts(self.text)
        try:
            # Syntax warnings (e.g. '1or 2', invalid escapes) become errors here, so the
            # result never depends on the caller's warning filters.
            with warnings.catch_warnings():
                warnings.simplefilter("error")
                tree = ast.parse(self.text, mode="eval")
        except SyntaxError as error:
            position = self._offset(error.lineno or 1, (error.offset or 1) - 1, utf8=False)
            hint = ("; note that outside brackets a line break ends the expression: keep it "
                    "on one line or wrap it in parentheses") if "\n" in self.text else ""
            raise self._error(f"not a valid expression ({error.msg}){hint}", position) from None
        except RecursionError:
            # Python's own parser stops at about 3,000 operators in one chain.
            raise self._error("expression is too long a chain of operators for Python's "
                              "parser; write long sums as sum(... for i in S) over a set, "
                              "with the coefficients in a parameter", 0) from None
        except (ValueError, MemoryError, OverflowError) as error:
            raise self._error(f"expression could not be parsed ({type(error).__name__}); "
                              "simplify it", 0) from None
        return self.visit(tree.body, 0)

    # -- helpers -------------------------------------------------------------
    def _offset(self, lineno: int, col: int, utf8: bool = True) -> int:
        line_start = self._line_starts[min(max(lineno, 1), len(self._line_starts)) - 1]
        if utf8:
            line = self.text[line_start:]
            col = len(line.encode("utf-8")[:col].decode("utf-8", errors="ignore"))
        return min(line_start + max(col, 0), len(self.text))

    def _span(self, node: ast.AST) -> E.Span:
        start = self._offset(node.lineno, node.col_offset)
        end = self._offset(getattr(node, "end_lineno", node.lineno) or node.lineno,
                           getattr(node, "end_col_offset", node.col_offset) or node.col_offset)
        return start, end

    def _error(self, message: str, position: int) -> ExpressionError:
        return ExpressionError(message, text=self.text, position=position, element=self.element)

    def _reject(self, node: ast.AST, what: str, instead: str = _ALLOWED_HINT) -> ExpressionError:
        return self._error(f"{what} is not allowed; {instead}", self._span(node)[0])

    # -- translation ---------------------------------------------------------
    def visit(self, node: ast.AST, depth: int) -> E.Expr:
        if depth > MAX_DEPTH:
            raise self._error(f"expression is nested more than {MAX_DEPTH} levels deep; "
                              "simplify it", self._span(node)[0])
        method = getattr(self, f"_visit_{type(node).__name__}", None)
        if method is None:
            raise self._reject(node, _describe(node))
        return method(node, depth + 1)

    def _visit_Constant(self, node: ast.Constant, depth: int) -> E.Expr:
        value = node.value
        if isinstance(value, bool) or value is None or value is Ellipsis:
            raise self._reject(node, f"the literal {value!r}", "use numbers such as 0 or 1")
        if isinstance(value, int):
            if len(str(abs(value))) > MAX_LITERAL_DIGITS:
                raise self._reject(node, "a number with more than 40 digits",
                                   "use scientific notation such as 1e50")
            return E.Num(value, self._span(node))
        if isinstance(value, float):
            if not math.isfinite(value):
                raise self._reject(node, "a number too large for a float (it overflows to "
                                   "infinity)", "use a finite number, or rescale the data")
            return E.Num(value, self._span(node))
        if isinstance(value, str):
            return E.Str(value, self._span(node))
        raise self._reject(node, f"the literal {type(value).__name__}",
                           "use real numbers or quoted set elements")

    def _visit_Name(self, node: ast.Name, depth: int) -> E.Expr:
        if node.id.startswith("__"):
            raise self._reject(node, f"the name '{node.id}'",
                               "names must be sets, parameters, variables or bound indices")
        return E.Name(node.id, self._span(node))

    def _visit_Subscript(self, node: ast.Subscript, depth: int) -> E.Expr:
        if not isinstance(node.value, ast.Name) or node.value.id.startswith("__"):
            raise self._reject(node, "indexing something other than a plain name",
                               "index a parameter or variable by name, e.g. x[i, j]")
        index = node.slice
        parts = index.elts if isinstance(index, ast.Tuple) else [index]
        if not parts:
            raise self._reject(node, "empty index", "write x[i] or x[i, j]")
        if any(isinstance(p, (ast.Slice, ast.Starred)) for p in parts):
            raise self._reject(node, "slices and starred indices", "index with elements: x[i, j]")
        indices = tuple(self.visit(p, depth) for p in parts)
        return E.Index(node.value.id, indices, self._span(node))

    def _visit_BinOp(self, node: ast.BinOp, depth: int) -> E.Expr:
        op = _BIN_OPS.get(type(node.op))
        if op is None:
            raise self._reject(node, f"the operator {_describe(node.op)}",
                               "use + - * / or **")
        if op in _INVERSE:
            return self._chain(node, depth)
        return E.Binary(op, self.visit(node.left, depth), self.visit(node.right, depth),
                        self._span(node))

    def _chain(self, node: ast.BinOp, depth: int) -> E.Expr:
        """`a + b - c + ...` (or `a * b / c ...`) is one level of nesting, however long:
        Python parses it left-deep, one level per operator, so walk down the left side
        here instead of recursing. Long chains become a balanced tree so that nothing
        downstream recurses once per term."""
        family = _FAMILY[type(node.op)]
        links: list[ast.BinOp] = []
        while isinstance(node, ast.BinOp) and type(node.op) in family:
            links.append(node)
            node = node.left
        links.reverse()
        result = self.visit(node, depth)
        terms = [(_BIN_OPS[type(link.op)], self.visit(link.right, depth), self._span(link))
                 for link in links]
        if len(terms) >= BALANCE_CHAINS_FROM:
            return _balanced([("", result), *[(op, term) for op, term, _ in terms]])
        for op, term, span in terms:
            result = E.Binary(op, result, term, span)
        return result

    def _visit_UnaryOp(self, node: ast.UnaryOp, depth: int) -> E.Expr:
        operand = self.visit(node.operand, depth)
        if isinstance(node.op, ast.USub):
            return E.Unary("-", operand, self._span(node))
        if isinstance(node.op, ast.UAdd):
            return E.Unary("+", operand, self._span(node))
        if isinstance(node.op, ast.Not):
            return E.Not(operand, self._span(node))
        raise self._reject(node, "bitwise inversion '~'", "use 'not' in conditions")

    def _visit_Compare(self, node: ast.Compare, depth: int) -> E.Expr:
        ops = []
        for op in node.ops:
            text = _CMP_OPS.get(type(op))
            if text is None:
                raise self._reject(node, f"the comparison {_describe(op)}",
                                   "use <=, >=, ==, <, > or !=")
            ops.append(text)
        operands = (self.visit(node.left, depth),
                    *(self.visit(c, depth) for c in node.comparators))
        return E.Compare(operands, tuple(ops), self._span(node))

    def _visit_BoolOp(self, node: ast.BoolOp, depth: int) -> E.Expr:
        op = "and" if isinstance(node.op, ast.And) else "or"
        return E.BoolOp(op, tuple(self.visit(v, depth) for v in node.values), self._span(node))

    def _visit_Call(self, node: ast.Call, depth: int) -> E.Expr:
        if not isinstance(node.func, ast.Name):
            raise self._reject(node, "calling something other than a plain function name",
                               "allowed functions: sum, " + ", ".join(E.FUNCTIONS))
        name = node.func.id
        if node.keywords or any(isinstance(a, ast.Starred) for a in node.args):
            raise self._reject(node, "keyword or starred arguments",
                               f"call {name}(...) with plain positional arguments")
        if name == "sum":
            return self._sum(node, depth)
        if name not in E.FUNCTIONS:
            raise self._reject(node, f"the function '{name}'",
                               "allowed functions: sum, " + ", ".join(E.FUNCTIONS))
        arity = {"min": None, "max": None}.get(name, 1)
        if not node.args or (arity is not None and len(node.args) != arity):
            raise self._reject(node, f"{name} with {len(node.args)} arguments",
                               f"{name} takes {'one argument' if arity else 'two or more'}")
        if name in ("min", "max") and len(node.args) < 2:
            raise self._reject(node, f"{name} with one argument",
                               f"give {name} two or more arguments, e.g. {name}(a, b)")
        if name == "len" and not isinstance(node.args[0], ast.Name):
            raise self._reject(node, "len of something other than a set name", "write len(S)")
        return E.Call(name, tuple(self.visit(a, depth) for a in node.args), self._span(node))

    def _sum(self, node: ast.Call, depth: int) -> E.Expr:
        if len(node.args) != 1 or not isinstance(node.args[0], (ast.GeneratorExp, ast.ListComp)):
            raise self._reject(node, "sum without a single 'for' generator",
                               "write sum(expr for i in S) or sum(expr for i in S if cond); "
                               "add plain terms with +")
        comprehension = node.args[0]
        generators = tuple(self._generator(g, depth) for g in comprehension.generators)
        return E.Sum(self.visit(comprehension.elt, depth), generators, self._span(node))

    def _generator(self, node: ast.comprehension, depth: int) -> E.Generator:
        if node.is_async:
            raise self._reject(node.target, "async comprehension", "write 'for i in S'")
        if not isinstance(node.target, ast.Name) or node.target.id.startswith("__"):
            raise self._reject(node.target, "a loop target other than one index name",
                               "write 'for i in S'; for pairs use two loops: "
                               "'for i in I for j in J'")
        if not isinstance(node.iter, ast.Name):
            raise self._reject(node.iter, "looping over something other than a set name",
                               "loop over a declared set: 'for i in S' (declare subsets or "
                               "ranges as sets, and filter with 'if')")
        conditions = tuple(self.visit(c, depth) for c in node.ifs)
        span = self._span(node.target)
        return E.Generator(node.target.id, node.iter.id, conditions, span)


def _balanced(items: list[tuple[str, E.Expr]]) -> E.Expr:
    """`t0 op1 t1 op2 t2 ...` as a tree of depth log2(n). The first item's operator is
    ignored (it is the head); splitting `... op t_k ...` at k turns the right half's
    operators relative to op_k: a - (b - c) for a - b + c."""
    if len(items) == 1:
        return items[0][1]
    middle = len(items) // 2
    left = _balanced(items[:middle])
    head_op, head = items[middle]
    flip = head_op in ("-", "/")
    right = _balanced([("", head), *[(_INVERSE[op] if flip else op, term)
                                     for op, term in items[middle + 1:]]])
    return E.Binary(head_op, left, right, (left.span[0], right.span[1]))


def _describe(node: ast.AST) -> str:
    names = {
        "Attribute": "attribute access (a.b)", "Lambda": "lambda", "NamedExpr": "':=' (walrus)",
        "JoinedStr": "an f-string", "FormattedValue": "an f-string", "IfExp": "'a if c else b'",
        "Dict": "a dict", "Set": "a set literal", "List": "a list", "Tuple": "a tuple",
        "DictComp": "a dict comprehension", "SetComp": "a set comprehension",
        "ListComp": "a list comprehension outside sum()", "GeneratorExp": "a generator "
        "outside sum()", "Await": "await", "Yield": "yield", "YieldFrom": "yield",
        "Starred": "'*' unpacking", "Slice": "a slice", "FloorDiv": "'//'", "Mod": "'%'",
        "MatMult": "'@'", "BitAnd": "'&'", "BitOr": "'|'", "BitXor": "'^' (for powers use **)",
        "LShift": "'<<'", "RShift": "'>>'", "In": "'in'", "NotIn": "'not in'", "Is": "'is'",
        "IsNot": "'is not'",
    }
    return names.get(type(node).__name__, f"the construct {type(node).__name__}")


def _line_starts(text: str) -> list[int]:
    starts = [0]
    for index, char in enumerate(text):
        if char == "\n":
            starts.append(index + 1)
    return starts
