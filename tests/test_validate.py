import pytest

from nl2opt.formulation.validate import Severity, validate

from helpers import formulation

SETS = [{"name": "P", "elements": ["a", "b"]}, {"name": "T", "range": [1, 3]}]
PARAMS = [{"name": "cost", "index": ["P"], "values": {"a": 1, "b": 2}},
          {"name": "cap", "value": 10}]
X = {"name": "x", "index": ["P"]}


def codes(f, severity=Severity.error):
    return {i.code for i in validate(f) if i.severity is severity}


def test_clean_formulation_has_no_issues():
    f = formulation([X], "sum(cost[p] * x[p] for p in P)", ["sum(x[p] for p in P) <= cap"],
                    SETS[:1], PARAMS)
    assert validate(f) == []


@pytest.mark.parametrize("objective, code, fragment", [
    ("sum(costs[p] * x[p] for p in P)", "undefined-name", "did you mean 'cost'"),
    ("sum(cost[p, p] * x[p] for p in P)", "index-arity", "declared over (P)"),
    ("sum(cost * x[p] for p in P)", "missing-index", "write cost[...]"),
    ("x", "missing-index", "write x[p]"),
    ("sum(x[t] for t in T)", "index-set", "ranges over T"),
    ("sum(x[p] for p in Q)", "undefined-set", "not a declared set"),
    ("sum(x[p] for p in P if x[p] > 0)", "variable-in-condition", "decision variable 'x'"),
    ("sum(x[cap] for cap in P)", "shadowing", "hides a declared name"),
    ("P", "set-as-value", "loop over it"),
    ("x['c']", "index-set", "'c' in x['c'] is not an element of P"),
    ("sum(x[p + 1] for p in P)", "index-arithmetic", "only on integer sets"),
    ("sum(x[p] for p in P) +", "syntax", "column"),
])
def test_errors_are_located_and_say_what_to_do(objective, code, fragment):
    f = formulation([X], objective, [], SETS, PARAMS)
    issues = [i for i in validate(f) if i.code == code]
    assert issues, f"expected a {code} issue, got {validate(f)}"
    assert issues[0].element == "objective"
    assert any(fragment in i.message for i in issues), [i.message for i in issues]


def test_forall_and_where_are_checked():
    f = formulation([{"name": "y", "index": ["T"]}], "sum(y[t] for t in T)", [
        {"name": "flow", "forall": ["t in T"], "where": "y[t] > 0",
         "expression": "y[t] >= 1"},
        {"name": "bad", "forall": ["t of T"], "expression": "y[1] >= 0"},
    ], SETS[1:])
    found = codes(f)
    assert {"variable-in-condition", "syntax"} <= found


def test_index_leaving_its_set_is_found_by_the_dry_compile():
    f = formulation([{"name": "s", "index": ["T"]}], "sum(s[t] for t in T)",
                    [{"name": "balance", "forall": ["t in T"],
                      "expression": "s[t] == s[t - 1] + 1"}], SETS[1:])
    issues = [i for i in validate(f) if i.code == "compile"]
    assert issues and "t - 1" in issues[0].message and "t > 1" in issues[0].message
    assert issues[0].element == "constraint 'balance'"


def test_warnings_for_unused_nonlinear_strict_and_constant_things():
    f = formulation([X, {"name": "z"}], "x['a'] * x['b']",
                    ["x['a'] < 3", "cap >= 1"], SETS, PARAMS)
    found = codes(f, Severity.warning)
    assert {"unused", "nonlinear", "strict-inequality", "no-variables"} <= found


def test_duplicate_and_reserved_names():
    f = formulation([{"name": "cost"}, {"name": "sum"}], "cost + sum", [], [], PARAMS)
    assert {"duplicate-name", "reserved-name"} <= codes(f)


def test_a_name_python_reads_as_another_is_refused():
    """`ﬁle` (with the ligature) is read by Python, and so by the expression parser and
    in emitted code, as `file`: two such names would be one name."""
    f = formulation([{"name": "ﬁle"}, {"name": "file"}], "ﬁle + file")
    issues = [i for i in validate(f) if i.element == "variable 'ﬁle'"]
    assert issues and issues[0].code == "bad-name" and "write 'file'" in issues[0].message


def test_data_errors_become_issues():
    params = [{"name": "cost", "index": ["P"], "values": {"a": 1, "zzz": 2}}]
    f = formulation([X], "sum(cost[p] * x[p] for p in P)", [], SETS[:1], params)
    issues = [i for i in validate(f) if i.code == "data"]
    assert issues and "'zzz' is not an element of set 'P'" in issues[0].message


def test_missing_parameter_values_warn_with_examples():
    params = [{"name": "cost", "index": ["P"], "values": {"a": 1}}]
    f = formulation([X], "sum(cost[p] * x[p] for p in P if p == 'a')", [], SETS[:1], params)
    warnings = [i for i in validate(f) if i.code == "missing-values"]
    assert warnings and "1 of 2" in warnings[0].message and "('b',)" in warnings[0].message
    assert not [i for i in validate(f) if i.severity is Severity.error]


def test_errors_come_before_warnings():
    f = formulation([X, {"name": "unused_var"}], "sum(nope[p] for p in P)", [], SETS, PARAMS)
    severities = [i.severity for i in validate(f)]
    assert severities == sorted(severities, key=lambda s: s is not Severity.error)
