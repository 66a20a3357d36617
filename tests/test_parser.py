"""Unit tests of the safe expression parser: trees, precedence, relations, errors."""

import pytest

from nl2opt.errors import ExpressionError
from nl2opt.formulation import expr as E
from nl2opt.formulation.parser import (MAX_DEPTH, MAX_LENGTH, parse_expression, parse_forall,
                                       parse_relation)

x, y, a, b, c = (E.Name(n) for n in "xyabc")


def num(value):
    return E.Num(value)


def round_trips(text: str) -> E.Expr:
    """Parse, print, parse again: the trees must be equal (spans are ignored)."""
    tree = parse_expression(text)
    again = parse_expression(E.to_source(tree))
    assert again == tree, (text, E.to_source(tree))
    assert E.to_source(again) == E.to_source(tree)
    return tree


def error_of(text: str, relation: bool = False, element: str = "") -> ExpressionError:
    parse = parse_relation if relation else parse_expression
    with pytest.raises(ExpressionError) as caught:
        parse(text, element)
    return caught.value


# -- every allowed construct -----------------------------------------------------------------
@pytest.mark.parametrize("text, expected", [
    ("3", num(3)),
    ("2.5", num(2.5)),
    ("1e3", num(1000.0)),
    ("x", x),
    ("'bread'", E.Str("bread")),
    ("x[i]", E.Index("x", (E.Name("i"),))),
    ("use[r, 'flour']", E.Index("use", (E.Name("r"), E.Str("flour")))),
    ("s[t - 1]", E.Index("s", (E.Binary("-", E.Name("t"), num(1)),))),
    ("-x", E.Unary("-", x)),
    ("+x", E.Unary("+", x)),
    ("a + b", E.Binary("+", a, b)),
    ("a * b", E.Binary("*", a, b)),
    ("a / b", E.Binary("/", a, b)),
    ("a ** 2", E.Binary("**", a, num(2))),
    ("exp(x)", E.Call("exp", (x,))),
    ("max(a, b, c)", E.Call("max", (a, b, c))),
    ("len(S)", E.Call("len", (E.Name("S"),))),
    ("sum(x[p] for p in P)",
     E.Sum(E.Index("x", (E.Name("p"),)), (E.Generator("p", "P"),))),
    ("sum(x[i, j] for i in I for j in J if j != i)",
     E.Sum(E.Index("x", (E.Name("i"), E.Name("j"))),
           (E.Generator("i", "I"),
            E.Generator("j", "J", (E.Compare((E.Name("j"), E.Name("i")), ("!=",)),))))),
    ("sum([x[p] for p in P])",
     E.Sum(E.Index("x", (E.Name("p"),)), (E.Generator("p", "P"),))),
    ("a <= b", E.Compare((a, b), ("<=",))),
    ("a < b and not c", E.BoolOp("and", (E.Compare((a, b), ("<",)), E.Not(c)))),
    ("a or b or c", E.BoolOp("or", (a, b, c))),
])
def test_each_construct_parses_to_the_expected_tree(text, expected):
    assert round_trips(text) == expected


@pytest.mark.parametrize("text", [
    "sum(profit[p] * x[p] for p in P) - 0.5 * sum(x[p] ** 2 for p in P)",
    "abs(x - y) + sqrt(x) + log(y) + exp(-x) + sin(x) * cos(y) / tan(a)",
    "min(a, b) + max(a, b, c) - len(S)",
    "sum(sum(y[i, j] for j in J if j > i) for i in I if i != 'z')",
    "0 <= x[i] - 2 * y[i] <= cap[i]",
    "(a + b) * (c - x) / (y + 1)",
    "a - (b - c)", "a / (b * c)", "a ** b ** c", "(a ** b) ** c", "(-a) ** 2", "-(a + b)",
    "not (a < b or b < c) and x != y",
    "x['cake', 3] >= 1e-9",
    "1234567890123456789012345678901234567890 * x",
    "0.1 + 1e+300 - 5e-324",
])
def test_round_trip_through_to_source(text):
    round_trips(text)


def test_spans_point_into_the_text_and_are_ignored_by_equality():
    tree = parse_expression("a + bb[i]")
    assert tree.span == (0, 9) and tree.right.span == (4, 9)
    assert tree == E.Binary("+", a, E.Index("bb", (E.Name("i"),)), span=(7, 7))


# -- precedence ------------------------------------------------------------------------------
@pytest.mark.parametrize("text, expected", [
    ("-x**2", E.Unary("-", E.Binary("**", x, num(2)))),
    ("2**-x", E.Binary("**", num(2), E.Unary("-", x))),
    ("a - b - c", E.Binary("-", E.Binary("-", a, b), c)),
    ("a / b * c", E.Binary("*", E.Binary("/", a, b), c)),
    ("a ** b ** c", E.Binary("**", a, E.Binary("**", b, c))),
    ("a + b * c", E.Binary("+", a, E.Binary("*", b, c))),
    ("a or b and c", E.BoolOp("or", (a, E.BoolOp("and", (b, c))))),
    ("not a == b", E.Not(E.Compare((a, b), ("==",)))),
    ("a + b <= c * x", E.Compare((E.Binary("+", a, b), E.Binary("*", c, x)), ("<=",))),
])
def test_operator_precedence(text, expected):
    assert round_trips(text) == expected


def test_to_source_parenthesises_only_where_needed():
    assert E.to_source(parse_expression("(a - b) - c")) == "a - b - c"
    assert E.to_source(parse_expression("a - (b - c)")) == "a - (b - c)"
    assert E.to_source(parse_expression("(-x) ** 2")) == "(-x) ** 2"
    assert E.to_source(parse_expression("((x))")) == "x"


# -- relations -------------------------------------------------------------------------------
@pytest.mark.parametrize("text, ops", [
    ("x <= 1", ("<=",)), ("x >= 1", (">=",)), ("x == 1", ("==",)),
    ("x < 1", ("<",)), ("x > 1", (">",)),
    ("0 <= x <= 1", ("<=", "<=")), ("1 >= x >= 0", (">=", ">=")), ("0 < x <= 1", ("<", "<=")),
])
def test_relations_and_ranged_relations(text, ops):
    relation = parse_relation(text)
    assert isinstance(relation, E.Compare) and relation.ops == ops
    assert parse_relation(E.to_source(relation)) == relation


@pytest.mark.parametrize("text, words", [
    ("a < b > c", ["'< >'", "both signs pointing the same way"]),
    ("0 <= x >= 1", ["'<= >='", "ranged"]),
    ("0 <= x <= 1 <= y", ["not allowed"]),
    ("x != 1", ["'!='", "use one of <=, >=, =="]),
    ("0 == x <= 1", ["'== <='", "use one of <=, >=, =="]),
    ("0 <= x == 1", ["'<= =='", "use one of <=, >=, =="]),
    ("0 == x == 1", ["cannot contain '=='", "write two constraints"]),
    ("x + 1", ["must be a relation", "'lhs <= rhs'"]),
    ("sum(x[i] for i in I)", ["must be a relation"]),
    ("x <= 1 and y <= 2", ["must be a relation"]),
])
def test_rejected_relations(text, words):
    message = str(error_of(text, relation=True))
    for word in words:
        assert word in message


# -- error messages ------------------------------------------------------------------------------
@pytest.mark.parametrize("text, construct, column, instead", [
    ("x + a.b", "attribute access (a.b)", 4, "allowed:"),
    ("x + foo(1)", "the function 'foo'", 4, "allowed functions: sum, abs"),
    ("x // 2", "'//'", 0, "use + - * / or **"),
    ("x % 2", "'%'", 0, "use + - * / or **"),
    ("x ^ 2", "'^' (for powers use **)", 0, "use + - * / or **"),
    ("1 if x else 2", "'a if c else b'", 0, "allowed:"),
    ("x in S", "'in'", 0, "use <=, >=, ==, <, > or !="),
    ("x[1:2]", "slices", 0, "index with elements"),
    ("x[i][j]", "indexing something other than a plain name", 0, "x[i, j]"),
    ("sum(x[i] for i in range(3))", "looping over something other than a set name", 18,
     "loop over a declared set"),
    ("sum(x for (i, j) in S)", "a loop target other than one index name", 10,
     "'for i in I for j in J'"),
    ("sum(x, y)", "sum without a single 'for' generator", 0, "sum(expr for i in S)"),
    ("max(x)", "max with one argument", 0, "two or more arguments"),
    ("sqrt(x, y)", "sqrt with 2 arguments", 0, "one argument"),
    ("len(x + 1)", "len of something other than a set name", 0, "len(S)"),
    ("abs(x=1)", "keyword or starred arguments", 0, "plain positional arguments"),
    ("True + x", "the literal True", 0, "use numbers"),
    ("2 + 3j", "the literal complex", 4, "real numbers"),
    ("x + 1e400", "a number too large for a float", 4, "finite number"),
    ("1" * 41, "more than 40 digits", 0, "scientific notation"),
    ("x + __dict__", "the name '__dict__'", 4, "names must be"),
    ("{1, 2}", "a set literal", 0, "allowed:"),
    ("[x for x in S]", "a list comprehension outside sum()", 0, "allowed:"),
])
def test_errors_name_the_construct_the_column_and_the_alternative(text, construct, column,
                                                                   instead):
    error = error_of(text, element="constraint 'cap'")
    assert construct in error.reason and instead in error.reason
    assert "is not allowed" in error.reason
    assert error.position == column
    message = str(error)
    assert message.startswith("constraint 'cap': ")
    assert f"(at column {column + 1})" in message
    assert message.splitlines()[-1] == "  " + " " * column + "^"


def test_syntax_errors_point_at_the_problem():
    error = error_of("x + * y")
    assert "not a valid expression" in error.reason and error.position == 4
    assert "element" not in str(error)


def test_element_name_is_omitted_when_not_given():
    assert str(error_of("a.b")).startswith("attribute access")
    assert error_of("a.b").located("objective").element == "objective"
    assert str(error_of("a.b").located("objective")).startswith("objective: attribute")


def test_empty_non_string_and_too_long_input():
    assert "empty" in error_of("   \n ").reason
    with pytest.raises(ExpressionError, match="expected an expression string, got int"):
        parse_expression(5)
    assert f"the limit is {MAX_LENGTH}" in error_of("x" * (MAX_LENGTH + 1)).reason


def test_nesting_depth_limit_and_deep_trees_print():
    deep = "-" * (MAX_DEPTH - 1) + "x"
    assert parse_expression(E.to_source(parse_expression(deep))) == parse_expression(deep)
    assert "nested more than" in error_of("-" * (MAX_DEPTH + 5) + "x").reason
    text = "x"
    for _ in range(MAX_DEPTH // 2):
        text = f"({text} + 1) * 2"
    round_trips(text)
    assert "nested more than" in error_of(f"({text} + 1) * 2").reason


def test_a_flat_sum_is_one_level_of_nesting_however_long():
    # Issue 9: a 70-term sum was refused as "nested more than 60 levels deep".
    flat = " + ".join(f"x[{k % 3}]" for k in range(70))
    tree = parse_expression(flat)
    assert sum(1 for node in E.walk(tree) if isinstance(node, E.Index)) == 70
    assert _depth(tree) <= 10  # balanced: nothing downstream recurses once per term


@pytest.mark.parametrize("ops", ["+-", "*/"])
def test_long_chains_keep_their_value_when_balanced(ops):
    import random

    rng = random.Random(7)
    for length in (5, 40, 2500):
        values = [rng.randint(1, 9) for _ in range(length)]
        signs = [rng.choice(ops) for _ in range(length - 1)]
        text = str(values[0]) + "".join(f" {o} {v}" for o, v in zip(signs, values[1:]))
        tree = parse_expression(text)
        exact = _exact(values, signs)
        assert abs(_evaluate(tree) - exact) <= 1e-9 * max(1.0, abs(exact))
        assert parse_expression(E.to_source(tree)) is not None


def test_genuine_nesting_is_still_limited():
    for deep in ("sqrt(" * 70 + "x" + ")" * 70, "x * (1 + " * 70 + "x" + ")" * 70):
        assert "nested more than" in error_of(deep).reason


def test_a_chain_too_long_for_pythons_parser_says_what_to_write():
    error = error_of(" + ".join(["x"] * 5000))
    assert "too long a chain" in error.reason and "sum(... for i in S)" in error.reason


def _depth(node) -> int:
    return 1 + max((_depth(child) for child in E.children(node)), default=0)


def _evaluate(node) -> float:
    if isinstance(node, E.Num):
        return node.value
    left, right = _evaluate(node.left), _evaluate(node.right)
    return {"+": left + right, "-": left - right, "*": left * right,
            "/": left / right if right else 0.0}[node.op]


def _exact(values: list[int], signs: list[str]) -> float:
    from fractions import Fraction

    total = Fraction(values[0])
    for sign, value in zip(signs, values[1:]):
        total = {"+": total + value, "-": total - value, "*": total * value,
                 "/": total / value}[sign]
    return float(total)


# -- layout: lines, unicode, whitespace ---------------------------------------------------------
def test_multi_line_expressions_parse_and_errors_count_columns_across_lines():
    tree = parse_relation("(sum(use[r, p] * x[p]\n    for p in P)\n  <= available[r])")
    assert tree.ops == ("<=",) and isinstance(tree.operands[0], E.Sum)
    # Outside brackets a line break ends the expression, and the error says so.
    assert "wrap it in parentheses" in error_of("x\n  <= 1", relation=True).reason
    error = error_of("(x +\n y.z)")
    assert error.text[error.position:].startswith("y.z")


def test_unicode_names_and_columns():
    assert parse_expression("é + 1") == E.Binary("+", E.Name("é"), num(1))
    # Python normalises identifiers (NFKC): a full-width x is x.
    assert parse_expression("ｘ + 1") == E.Binary("+", x, num(1))
    assert parse_expression("x['crème brûlée']").indices == (E.Str("crème brûlée"),)
    error = error_of("é + a.b")  # columns count characters, not UTF-8 bytes
    assert error.position == 4 and error.text[error.position:] == "a.b"
    assert "U+200B" in error_of("x\u200b + 1").reason


def test_leading_and_trailing_whitespace():
    assert parse_expression("   \t x + 1 \n") == E.Binary("+", x, num(1))
    assert parse_relation("\n  x <= 1").ops == ("<=",)
    error = error_of("    x + a.b")  # columns refer to the stripped text
    assert error.position == 4 and error.text == "x + a.b"


def test_results_do_not_depend_on_warning_filters():
    # Python only warns about these; the parser turns them into errors every time.
    assert "invalid escape sequence" in error_of(r"x['\d']").reason
    assert "invalid decimal literal" in error_of("1or x").reason


# -- forall ------------------------------------------------------------------------------------
@pytest.mark.parametrize("text, expected", [
    ("m in M", ("m", "M")), ("  t  in  T ", ("t", "T")), ("prod_1 in Products", ("prod_1", "Products")),
])
def test_parse_forall(text, expected):
    assert parse_forall(text) == expected


@pytest.mark.parametrize("text", [
    "i, j in I", "i in I if i > 1", "in I", "i in", "i in I J", "i for I", "i in range(3)",
    "(i) in I", "", "i in I.x", "1 in I",
])
def test_parse_forall_rejects_anything_else(text):
    with pytest.raises(ExpressionError) as caught:
        parse_forall(text, "constraint 'c'")
    assert "'i in S'" in str(caught.value) and str(caught.value).startswith("constraint 'c': ")
