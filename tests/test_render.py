"""Rendering formulations as Markdown (with math) and as a LaTeX snippet."""

import re

import pytest

from nl2opt.formulation.parser import parse_expression, parse_relation
from nl2opt.formulation.render import expression_to_latex, render_latex, render_markdown

from helpers import formulation

T12 = {"name": "T", "range": [1, 12]}
P2 = {"name": "P", "elements": ["bread", "cake"]}


def assert_well_formed_latex(text: str) -> None:
    """Structural validity: braces balance (ignoring \\{ \\}), \\left/\\right and
    \\begin/\\end pair up, and no Python syntax leaks through."""
    unescaped = re.sub(r"\\[{}]", "", text)
    depth = 0
    for char in unescaped:
        depth += {"{": 1, "}": -1}.get(char, 0)
        assert depth >= 0, f"closing brace without an opening one in {text!r}"
    assert depth == 0, f"unbalanced braces in {text!r}"
    assert len(re.findall(r"\\left\W", text)) == len(re.findall(r"\\right\W", text))
    assert re.findall(r"\\begin\{(\w+\*?)\}", text) == re.findall(r"\\end\{(\w+\*?)\}", text)
    # Prose (comment lines, \text{...} notes) may say anything; the math may not.
    math = re.sub(r"\\text\{(?:[^{}]|\\[{}])*\}", "", re.sub(r"(?m)^%.*$", "", text))
    assert "**" not in math
    assert not re.search(r"\bfor \w+ in\b", math), math
    assert "sum(" not in math and "==" not in math and "!=" not in math


def math_parts(markdown: str) -> list[str]:
    """The $$...$$ blocks and $...$ spans of a Markdown text (escaped \\$ skipped)."""
    blocks = re.findall(r"\$\$\n(.*?)\n\$\$", markdown, flags=re.S)
    rest = re.sub(r"\$\$\n.*?\n\$\$", "", markdown, flags=re.S)
    return blocks + re.findall(r"(?<!\\)\$(.+?)(?<!\\)\$", rest)


def latex(text: str) -> str:
    return expression_to_latex(parse_expression(text))


# -- the bakery example ---------------------------------------------------------------------
def test_bakery_markdown(bakery):
    text = render_markdown(bakery)
    assert text.startswith("# Bakery production plan\n")
    assert "A bakery makes bread and cakes" in text
    assert "- Fractional batches are allowed" in text
    assert "- $P$ = {bread, cake} — products" in text
    assert "$$\n\\max \\quad \\sum_{p \\in P} \\mathit{profit}_{p} x_{p}\n$$" in text
    assert ("\\sum_{p \\in P} \\mathit{use}_{r,p} x_{p} \\le \\mathit{available}_{r} "
            "\\quad \\forall r \\in R") in text
    assert "**capacity** — do not use more of a resource than is available" in text
    assert "$x_{p} \\in \\mathbb{R}_{\\ge 0} \\quad \\forall p \\in P$ — batches per day" in text
    # The unit's $ is escaped so it does not open math mode.
    assert "unit: \\$/batch" in text
    # 1-D and 2-D parameter tables, rows = first index, columns = second.
    assert "| P | profit |\n|---|---:|\n| bread | 30 |\n| cake | 45 |" in text
    assert "| R \\\\ P | bread | cake |" in text
    assert "| oven\\_hours | 1 | 2 |\n| flour\\_kg | 5 | 3 |" in text
    for part in math_parts(text):
        assert_well_formed_latex(part)


def test_bakery_latex(bakery):
    text = render_latex(bakery)
    assert "\\documentclass" not in text
    assert text.splitlines()[1] == "% Bakery production plan"
    assert "\\begin{align*}" in text and text.rstrip().endswith("\\end{align*}")
    assert "P = \\{\\text{bread}, \\text{cake}\\}" in text
    assert "\\text{oven\\_hours}" in text
    assert "\\max \\quad \\sum_{p \\in P} \\mathit{profit}_{p} x_{p}" in text
    assert ("\\sum_{p \\in P} \\mathit{use}_{r,p} x_{p} \\le \\mathit{available}_{r} "
            "\\quad \\forall r \\in R && \\text{(capacity)}") in text
    assert "\\text{unit: \\$/batch}" in text
    assert_well_formed_latex(text)


# -- small formulations -----------------------------------------------------------------------
def test_two_dimensional_table_is_truncated_with_a_note():
    sets = [{"name": "I", "range": [1, 20]}, {"name": "J", "range": [1, 15]}]
    table = [[i, j, 10 * i + j] for i in range(1, 21) for j in range(1, 16)]
    f = formulation([{"name": "x", "index": ["I", "J"]}],
                    "sum(c[i, j] * x[i, j] for i in I for j in J)", [], sets,
                    [{"name": "c", "index": ["I", "J"], "table": table, "unit": "EUR"}])
    text = render_markdown(f)
    header = "| I \\\\ J | " + " | ".join(str(j) for j in range(1, 13)) + " |"
    assert header in text
    assert "| 1 | 11 | 12 |" in text and "| 12 | 121 |" in text
    assert not re.search(r"^\| (13|20) \|", text, flags=re.M)
    assert "_Showing the first 12 of 20 rows._" in text
    assert "_Showing the first 12 of 15 columns._" in text
    assert "- $I$ = {1, 2, ..., 20}" in text
    assert "\\mathit{c}" not in text and "$c_{i,j}$, $i \\in I, j \\in J$ — unit: EUR" in text


def test_three_index_parameter_is_a_long_table_and_missing_values_show_a_dash():
    sets = [{"name": "A", "elements": ["a1", "a2"]}, {"name": "B", "range": [1, 2]},
            {"name": "C", "range": [1, 2]}]
    f = formulation([{"name": "x"}], "x", [], sets,
                    [{"name": "d", "index": ["A", "B", "C"], "table": [["a1", 1, 1, 3.5]]}])
    text = render_markdown(f)
    assert "| A | B | C | d |\n|---|---:|---:|---:|\n| a1 | 1 | 1 | 3.5 |\n| a1 | 1 | 2 | — |" \
        in text


def test_time_indexed_balance_with_where_and_long_range():
    f = formulation([{"name": "s", "index": ["T"]}, {"name": "b", "index": ["T"]}],
                    "sum(s[t] for t in T)",
                    [{"name": "balance", "forall": ["t in T"], "where": "t > 1",
                      "expression": "s[t] == s[t - 1] + b[t]"}], [T12])
    expected = "s_{t} = s_{t - 1} + b_{t} \\quad \\forall t \\in T : t > 1"
    markdown, tex = render_markdown(f), render_latex(f)
    assert expected in markdown and expected in tex
    assert "- $T$ = {1, 2, ..., 12}" in markdown
    assert "T = \\{1, 2, \\ldots, 12\\}" in tex
    assert_well_formed_latex(tex)


def test_nonlinear_functions_powers_and_fractions():
    f = formulation([{"name": "x", "lower": None}, {"name": "y", "lower": 1}],
                    "exp(x) + log(y) + sqrt(y) + abs(x - 1) + min(x, y) + x**2 + x / (y + 1)")
    text = render_latex(f)
    assert ("\\min \\quad \\exp\\left(x\\right) + \\log\\left(y\\right) + \\sqrt{y} + "
            "\\left|x - 1\\right| + \\min\\left(x, y\\right) + x^{2} + \\frac{x}{y + 1}") in text
    assert "& x \\in \\mathbb{R} \\\\\n" in text  # a free variable: no bounds chain
    assert "1 \\le y, \\; y \\in \\mathbb{R}" in text
    assert_well_formed_latex(text)


def test_binary_integer_and_bounded_variables():
    f = formulation([{"name": "open", "index": ["P"], "type": "binary"},
                     {"name": "n", "index": ["P"], "type": "integer"},
                     {"name": "z", "index": ["P"], "upper": "cap[P]"},
                     {"name": "w", "index": ["P"], "upper": "cap"}],
                    "sum(open[p] + n[p] + z[p] + w[p] for p in P)", [], [P2],
                    [{"name": "cap", "index": ["P"], "values": {"bread": 3, "cake": 4}}])
    text = render_markdown(f)
    assert "$\\mathit{open}_{p} \\in \\{0, 1\\} \\quad \\forall p \\in P$" in text
    assert "$n_{p} \\in \\mathbb{Z}_{\\ge 0} \\quad \\forall p \\in P$" in text
    expected = "0 \\le {v}_{{p}} \\le \\mathit{{cap}}_{{p}}, \\; {v}_{{p}} \\in \\mathbb{{R}}"
    assert expected.format(v="z") in text
    assert expected.format(v="w") in text


def test_ranged_constraint_and_sum_with_filter():
    sets = [{"name": "J", "range": [1, 3]}]
    f = formulation([{"name": "x", "index": ["J", "J"]}], "sum(x[i, j] for i in J for j in J)",
                    [{"name": "band", "forall": ["i in J"],
                      "expression": "10 <= sum(x[i, j] for j in J if j != i) <= 20"}], sets,
                    sense="maximize")
    text = render_latex(f)
    assert ("10 \\le \\sum_{j \\in J : j \\ne i} x_{i,j} \\le 20 \\quad \\forall i \\in J"
            in text)
    assert "\\max \\quad \\sum_{i \\in J, j \\in J} x_{i,j}" in text
    assert_well_formed_latex(text)


def test_unparseable_pieces_are_shown_verbatim_and_bad_data_is_reported():
    f = formulation([{"name": "x"}], "x", ["x <= __import__('os')"], [P2],
                    [{"name": "c", "index": ["P"], "values": {"pie": 1}}])
    markdown, tex = render_markdown(f), render_latex(f)
    assert "\\texttt{x <= \\_\\_import\\_\\_('os')}" in tex
    assert "_Data could not be read:" in markdown and "pie" in markdown
    assert_well_formed_latex(tex)


# -- expressions ------------------------------------------------------------------------------
@pytest.mark.parametrize("source, expected", [
    ("-x**2", "-x^{2}"),
    ("2**-x", "2^{-x}"),
    ("(-x)**2", "\\left(-x\\right)^{2}"),
    ("x ** y ** z", "x^{y^{z}}"),
    ("(x ** y) ** z", "\\left(x^{y}\\right)^{z}"),
    ("a - b - c", "a - b - c"),
    ("a - (b - c)", "a - \\left(b - c\\right)"),
    ("a / b * c", "\\frac{a}{b} c"),
    ("a / (b * c)", "\\frac{a}{b c}"),
    ("(a / b) ** 2", "\\left(\\frac{a}{b}\\right)^{2}"),
    ("2 * x + x * 3", "2 x + x \\cdot 3"),
    ("x * -y", "x \\left(-y\\right)"),
    ("sum(a[i] for i in I) * 2", "\\left(\\sum_{i \\in I} a_{i}\\right) \\cdot 2"),
    ("sum(a[i] + b[i] for i in I)", "\\sum_{i \\in I} \\left(a_{i} + b_{i}\\right)"),
    ("sum(x[i] for i in I if i > 1 if i < 5)", "\\sum_{i \\in I : i > 1 \\land i < 5} x_{i}"),
    ("sum(x[i] for i in I if i < 2 or i > 5)", "\\sum_{i \\in I : i < 2 \\lor i > 5} x_{i}"),
    ("x['bread'] + oven_hours", "x_{\\text{bread}} + \\mathit{oven\\_hours}"),
    ("x['a_b$c']", "x_{\\text{a\\_b\\$c}}"),
    ("abs(x) + len(S)", "\\left|x\\right| + \\left|S\\right|"),
    ("1e-6 * x + 2.5e20", "10^{-6} x + 2.5 \\cdot 10^{20}"),
    ("not (a or b) and c", "\\lnot \\left(a \\lor b\\right) \\land c"),
])
def test_expression_to_latex(source, expected):
    assert latex(source) == expected
    assert_well_formed_latex(expected)


def test_relations_render_with_latex_operators():
    assert expression_to_latex(parse_relation("x >= 1")) == "x \\ge 1"
    assert expression_to_latex(parse_relation("x == 1")) == "x = 1"
    assert expression_to_latex(parse_relation("0 <= x <= 1")) == "0 \\le x \\le 1"


def test_name_overrides_print_set_names_as_index_letters():
    assert expression_to_latex(parse_expression("cap[P] * 2"), {"P": "p"}) == \
        "\\mathit{cap}_{p} \\cdot 2"


def test_product_of_two_multi_letter_names_keeps_them_apart():
    from nl2opt.formulation.parser import parse_expression
    from nl2opt.formulation.render import expression_to_latex

    latex = expression_to_latex(parse_expression("hold_cost * stock[t]"))
    assert latex == r"\mathit{hold\_cost} \, \mathit{stock}_{t}"
