"""The parser is a trust boundary: hostile text may only ever become an ExpressionError
or a tree. Nothing in it may run, and every call must finish quickly."""

import ast
import builtins
import contextlib
import os
import subprocess
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from nl2opt.errors import ExpressionError, Nl2OptError
from nl2opt.formulation import expr as E
from nl2opt.formulation.arrays import compile_arrays
from nl2opt.formulation.parsed import parse_formulation
from nl2opt.formulation.parser import parse_expression, parse_forall, parse_relation
from nl2opt.formulation.validate import errors_only, validate

from helpers import formulation

TIME_BOUND = 5.0  # seconds per call: a safety bound on a loaded CI machine, not a target
PWNED = Path("/tmp/pwned")
DANGEROUS_MODULES = {"os", "posix", "subprocess", "sys", "shutil", "socket", "ctypes", "pty",
                     "importlib", "builtins", "pickle", "marshal", "code", "runpy"}


def adversarial(marker: Path) -> list[str]:
    """Hostile and pathological inputs; `marker` is a file a successful attack would write."""
    shell = f"echo hacked > {marker}"
    return [
        f"__import__('os').system('{shell}')",
        f"x + __import__('os').system('{shell}')",
        f"sum(x[i] for i in I if __import__('os').system('{shell}'))",
        "().__class__.__bases__[0].__subclasses__()",
        "x.__class__", "x.real", "__builtins__", "__import__", "__dict__[0]", "x[__name__]",
        "(lambda: 1)()", "lambda: 1", "sum(f(i) for i in I for f in [lambda: 1])",
        "(y := 1)", "x[(y := 1)]", "sum((y := i) for i in I)",
        "f'{x}'", "f'{__import__(\"os\").system(\"true\")}'", "*x", "x[*I]", "max(*I)",
        "abs(x=1)", "min(a, b, key=c)",
        f"exec('import os; os.system(\"{shell}\")')", "eval('1+1')", "compile('1', 'f', 'eval')",
        "open('/etc/passwd')", f"open('{marker}', 'w')", "getattr(x, 'y')", "globals()",
        "vars()", "breakpoint()", "input()", "print(1)", "type(x)",
        "sum(x for x in [1, 2])", "[y for y in S]", "{y for y in S}", "{y: 1 for y in S}",
        "sum(i for i in (lambda: S)())", "sum((lambda: i)() for i in I)",
        "sum(x[i] for i in I if (lambda: 1)())", "sum(i for i in I.x)", "sum(i for i in I[0])",
        "(x for x in S).send(None)", "(x for x in S)", "sum(x async for x in S)",
        "await x", "yield x", "x if y else z", "x[1:2]", "x[::-1]", "x @ y", "x // y", "~x",
        "x is None", "x in S", "b'abc'", "1j", "...", "None", "True",
        "9**9**9**9", "9**9**9**9 <= x", "10**10**10", "1" * 45, "1" * 4000 + " + x",
        "1e999999", "0x" + "f" * 100, "'a' * 10**9", "'a' * 10**9 <= x",
        "(" * 1000 + "x" + ")" * 1000, "(" * 60 + "x" + ")" * 60, "[" * 300, "(" * 300,
        "-" * 100000 + "x", "-" * 19000 + "x", "not " * 4000 + "x",
        "x" + "+x" * 100000, "x" + "+x" * 9000, "x" + "**x" * 6000, "x" + " < x" * 4000,
        "min(" + "x, " * 6000 + "x)", "x[" + "1, " * 6000 + "1]",
        "x" * 1_000_000, "x" + " " * 1_000_000,
        "x\x00", "\x00", "x\x00 + __import__('os')", "x + \\", "x\\\n+ 1", "(x\\\n+ 1)",
        "x\r\n+ 1", "(x\r\n+ 1)", "\u202ex + 1", "x\u200b + 1", "\ufeffx", "ｘ + １",
        "\ud800", "x['\ud800']", "'\\N{NOT A NAME}'", "x['\\x00']", "x['\\u0000'] <= 1",
        "\U0001f600 + 1", "x + 'é\\'", "'''multi\nline'''", "x # __import__('os')",
        "x;y", "x = 1", "import os", "del x", "assert x", "pass", "", " ", "\n\n",
    ]


@contextlib.contextmanager
def tripwires(calls: list[str]):
    """Make every way of running code or touching the system record itself."""
    original_import, original_compile = builtins.__import__, builtins.compile

    def trip(name):
        def tripped(*args, **kwargs):
            calls.append(name)
            raise AssertionError(f"{name} was called while parsing")
        return tripped

    def guarded_import(name, *args, **kwargs):
        # Libraries import lazily (the tokenizer imports unicodedata, numpy its helpers);
        # what must never happen is reaching for the system.
        if name.partition(".")[0] in DANGEROUS_MODULES:
            calls.append(f"import {name}")
        return original_import(name, *args, **kwargs)

    def guarded_compile(source, filename, mode, flags=0, *args, **kwargs):
        if not flags & ast.PyCF_ONLY_AST:  # ast.parse may build a tree, never code
            calls.append("compile to code")
        return original_compile(source, filename, mode, flags, *args, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        for module, name in [(os, "system"), (os, "popen"), (os, "execv"), (os, "remove"),
                             (subprocess, "Popen"), (builtins, "open"), (builtins, "eval"),
                             (builtins, "exec"),
                             (builtins, "breakpoint"), (builtins, "input")]:
            patch.setattr(module, name, trip(f"{module.__name__}.{name}"))
        patch.setattr(builtins, "__import__", guarded_import)
        patch.setattr(builtins, "compile", guarded_compile)
        yield


def outcome(parse, text: str) -> str:
    """Parse under tripwires and a clock; 'tree' or 'error', anything else fails the test."""
    calls: list[str] = []
    start = time.perf_counter()
    with tripwires(calls):
        try:
            result = parse(text)
        except ExpressionError as error:
            result = error
        except BaseException as error:  # noqa: BLE001 - reported below, outside the wires
            result = error
    elapsed = time.perf_counter() - start
    assert not calls, f"parsing {text[:60]!r} called {calls}"
    assert elapsed < TIME_BOUND, f"parsing {text[:60]!r} took {elapsed:.2f} s"
    assert isinstance(result, (ExpressionError, E.Num, E.Str, E.Name, E.Index, E.Unary,
                               E.Binary, E.Call, E.Sum, E.Compare, E.BoolOp, E.Not, tuple)), \
        f"parsing {text[:60]!r} raised {type(result).__name__}: {result}"
    if isinstance(result, ExpressionError):
        assert str(result)  # the message itself must render
        return "error"
    return "tree"


# -- (a) adversarial strings ------------------------------------------------------------------
@pytest.mark.parametrize("parse", [parse_expression, parse_relation, parse_forall],
                         ids=["expression", "relation", "forall"])
def test_adversarial_strings_only_ever_give_errors_or_trees(parse, tmp_path):
    marker = tmp_path / "pwned"
    pwned_before = PWNED.exists()
    results = {text: outcome(parse, text) for text in adversarial(marker)}
    assert not marker.exists() and PWNED.exists() == pwned_before
    # The clearly hostile ones are refused outright, not merely survived.
    for text in adversarial(marker)[:40]:
        assert results[text] == "error", text


def test_huge_arithmetic_is_kept_as_a_tree_and_never_computed():
    tree = parse_expression("9**9**9**9")
    assert tree == E.Binary("**", E.Num(9), E.Binary("**", E.Num(9),
                                                     E.Binary("**", E.Num(9), E.Num(9))))
    assert E.to_source(tree) == "9 ** 9 ** 9 ** 9"
    assert isinstance(parse_expression("'a' * 10**9"), E.Binary)


def test_dunder_names_are_refused_everywhere():
    for text in ["__import__", "x[__file__]", "__x[1]", "sum(1 for __i in I)",
                 "sum(x[i] for i in I if __import__)"]:
        with pytest.raises(ExpressionError, match="not allowed"):
            parse_expression(text)


# -- (b) properties ---------------------------------------------------------------------------
EXPRESSION_CHARS = "xyijIS_0123456789.e+-*/()[], <=>!'\"\n\\:sumforinifandnotorabsmaxlen"


@settings(deadline=None, max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(st.text(max_size=60), st.text(EXPRESSION_CHARS, max_size=60)))
def test_random_text_gives_an_error_or_a_tree(text):
    for parse in (parse_expression, parse_relation, parse_forall):
        try:
            parse(text)
        except ExpressionError:
            pass


NAMES = st.sampled_from(["x", "y", "cap", "t", "a_b", "é", "I", "x1"])
NUMBERS = st.one_of(st.integers(0, 10**40 - 1).map(str),
                    st.floats(0, allow_nan=False, allow_infinity=False).map(repr))
STRINGS = st.text(max_size=4).map(repr)


def _grow(children):
    pair = st.tuples(children, children)
    return st.one_of(
        st.tuples(st.sampled_from(["+", "-", "*", "/", "**"]), children, children)
        .map(lambda t: f"({t[1]}) {t[0]} ({t[2]})"),
        st.tuples(st.sampled_from(["-", "+", "not "]), children).map(lambda t: f"{t[0]}({t[1]})"),
        st.tuples(st.sampled_from(["<=", ">=", "==", "<", ">", "!="]), children, children)
        .map(lambda t: f"({t[1]}) {t[0]} ({t[2]})"),
        st.tuples(st.sampled_from(["and", "or"]), children, children)
        .map(lambda t: f"({t[1]}) {t[0]} ({t[2]})"),
        st.tuples(st.sampled_from(["exp", "log", "sqrt", "abs", "sin"]), children)
        .map(lambda t: f"{t[0]}({t[1]})"),
        st.tuples(st.sampled_from(["min", "max"]), pair).map(lambda t: f"{t[0]}({t[1][0]}, "
                                                                      f"{t[1][1]})"),
        st.tuples(NAMES, st.lists(children, min_size=1, max_size=3))
        .map(lambda t: f"{t[0]}[{', '.join(t[1])}]"),
        st.tuples(children, st.lists(children, max_size=2))
        .map(lambda t: f"sum({t[0]} for i in I" + "".join(f" if ({c})" for c in t[1]) + ")"),
        pair.map(lambda p: f"sum({p[0]} for i in I for j in J if ({p[1]}))"),
        st.just("len(S)"),
    )


GRAMMAR = st.recursive(st.one_of(NAMES, NUMBERS, STRINGS), _grow, max_leaves=12)


@settings(deadline=None, max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(GRAMMAR)
def test_grammar_shaped_expressions_parse_and_round_trip(text):
    try:
        tree = parse_expression(text)
    except ExpressionError as error:
        assume("nested more than" not in error.reason)  # the only allowed refusal
        raise
    printed = E.to_source(tree)
    assert parse_expression(printed) == tree, printed
    assert E.to_source(parse_expression(printed)) == printed


@settings(deadline=None, max_examples=100)
@given(GRAMMAR, st.integers(0, 3))
def test_grammar_shaped_text_with_damage_gives_an_error_or_a_tree(text, cut):
    # Chopping the end off a valid expression usually breaks it; it must break cleanly.
    for damaged in (text[: len(text) - cut], text + ")" * cut, "__" + text, text + ".x"):
        try:
            parse_expression(damaged)
        except ExpressionError:
            pass


# -- (c) through the compiler -----------------------------------------------------------------
I2 = {"name": "I", "elements": ["a", "b"]}


def test_hostile_objective_is_refused_by_parsing_and_validation(tmp_path):
    marker = tmp_path / "pwned"
    f = formulation([{"name": "x", "index": ["I"]}],
                    f"sum(x[i] for i in I if __import__('os').system('echo > {marker}'))",
                    ["sum(x[i] for i in I if __import__) <= 1"], [I2])
    parsed, errors = parse_formulation(f)
    assert parsed is None and len(errors) == 2
    assert all("'__import__'" in str(e) or "calling something" in str(e) for e in errors)
    issues = errors_only(validate(f))
    assert {i.element for i in issues} >= {"objective", "constraint 'c0'"}
    with pytest.raises(Nl2OptError):
        compile_arrays(f)
    assert not marker.exists()


@pytest.mark.parametrize("objective", [
    "9**9**9**9 * x['a']", "10**400 * x['a']", "x['a'] ** 9**9**9", "exp(1000) * x['a']",
    "x['a'] * (1e308 * 10)", "sum(1e308 for i in I) * x['a']", "'a' * 10**9",
    "x['__class__']", "x['a'] * 'x'", "len(I) ** 1e308 * x['a']", "(-1) ** 0.5 * x['a']",
])
def test_valid_but_hostile_trees_fail_cleanly_in_the_compiler(objective):
    f = formulation([{"name": "x", "index": ["I"]}], objective, [], [I2])
    calls: list[str] = []
    start = time.perf_counter()
    with tripwires(calls):
        try:
            compile_arrays(f)
            result = None
        except Nl2OptError as error:
            result = error
        except BaseException as error:  # noqa: BLE001 - reported below
            result = error
    assert not calls and time.perf_counter() - start < TIME_BOUND
    assert isinstance(result, Nl2OptError), f"{objective}: {result!r}"
    assert errors_only(validate(f)), objective


def test_the_tripwires_themselves_catch_code_execution():
    calls: list[str] = []
    with tripwires(calls):
        for attempt in (lambda: __import__("os"), lambda: eval("1"),
                        lambda: compile("1", "<x>", "eval"), lambda: os.system("true")):
            with contextlib.suppress(AssertionError):
                attempt()
    assert calls == ["import os", "builtins.eval", "compile to code", "os.system"]
