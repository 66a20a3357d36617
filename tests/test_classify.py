import pytest

from nl2opt.api import classify_formulation
from nl2opt.formulation.classify import integer_scale

from helpers import formulation

X = {"name": "x", "lower": None}
N = {"name": "n", "type": "integer"}


@pytest.mark.parametrize("variables, objective, constraints, expected", [
    ([X], "3 * x", ["x <= 4"], "LP"),
    ([X, N], "x + n", ["x + n <= 4"], "MILP"),
    ([X], "x ** 2 - x", [], "QP"),
    ([X, N], "x * n", [], "MIQP"),
    ([X], "x", ["x * x <= 4"], "QCP"),
    ([X, N], "x", ["x ** 2 + n <= 4"], "MIQCP"),
    ([X], "exp(x)", [], "NLP"),
    ([X], "x", ["x / (1 + x) <= 0.5"], "NLP"),
    ([X], "x ** 3", [], "NLP"),
    ([X, N], "sqrt(x) + n", [], "MINLP"),
    ([X], "2 ** 3 * x + exp(1) * x", [], "LP"),
])
def test_classes(variables, objective, constraints, expected):
    assert classify_formulation(formulation(variables, objective, constraints)).value == expected


def test_integer_scale_finds_exact_factors_only():
    import numpy as np

    assert integer_scale(np.array([1.0, 0.5, 0.25])) == 4
    assert integer_scale(np.array([3.0, -7.0])) == 1
    assert integer_scale(np.array([0.1, 0.3])) == 10
    assert integer_scale(np.array([np.pi])) is None
