"""Model size estimates and limits: oversized models are refused before anything is
expanded (issue 9, item 6), and the estimate is an upper bound of what compiling builds."""

import tracemalloc

import pytest
from conftest import EXAMPLES
from helpers import formulation

from nl2opt.errors import ModelTooLargeError, Nl2OptError
from nl2opt.formulation.arrays import compile_arrays, parse_or_raise
from nl2opt.formulation.data import resolve_data
from nl2opt.formulation.limits import Limits, current_limits, memory_cap, memory_capped
from nl2opt.formulation.model import load_formulation
from nl2opt.formulation.size import check_model_size, estimate_size
from nl2opt.formulation.validate import errors_only, validate

PRODUCT_OF_SUMS = formulation([{"name": "x", "index": ["I"]}],
                              "sum(x[i] for i in I) * sum(x[j] for j in I)",
                              sets=[{"name": "I", "range": [1, 20_000]}])


def peak_megabytes(function) -> tuple[object, float]:
    """What `function` returned or raised, and the peak traced allocation in MB."""
    tracemalloc.start()
    try:
        try:
            result = function()
        except Exception as error:  # noqa: BLE001 - returned for the caller to check
            result = error
        return result, tracemalloc.get_traced_memory()[1] / 2**20
    finally:
        tracemalloc.stop()


def test_a_product_of_two_sums_is_refused_with_its_estimate_before_allocating():
    # The 270-byte file from the issue: about 400 million quadratic terms, ~34 GB.
    result, peak = peak_megabytes(lambda: compile_arrays(PRODUCT_OF_SUMS))
    assert isinstance(result, ModelTooLargeError)
    message = str(result)
    assert message.startswith("objective:")
    assert "400,000,000 quadratic terms" in message and "20,000 by 20,000" in message
    assert f"limit is {current_limits().max_terms:,}" in message
    assert "NL2OPT_MAX_TERMS" in message
    assert peak < 50, f"{peak:.0f} MB allocated before refusing"


def test_validation_reports_the_oversized_element_as_an_issue():
    issues = errors_only(validate(PRODUCT_OF_SUMS))
    assert [(i.code, i.element) for i in issues] == [("too-large", "objective")]
    assert "400,000,000 quadratic terms" in issues[0].message


def test_a_large_unused_range_costs_nothing_and_is_refused_by_the_estimate():
    f = formulation([{"name": "x"}], "x", sets=[{"name": "I", "range": [1, 50_000_000]}])
    data, peak = peak_megabytes(lambda: resolve_data(f))
    assert len(data.sets["I"]) == 50_000_000 and peak < 5
    assert data.sets["I"].position_of(49_999_999) == 49_999_998
    assert data.sets["I"].position_of("7") == 6 and data.sets["I"].position_of(0) is None
    issues, peak = peak_megabytes(lambda: errors_only(validate(f)))
    assert [(i.code, i.element) for i in issues] == [("too-large", "set 'I'")]
    assert "50,000,000 elements" in issues[0].message and peak < 50


def test_a_dense_parameter_is_refused_before_its_array_is_allocated():
    f = formulation([{"name": "x"}], "x", sets=[{"name": "I", "range": [1, 100_000]}],
                    parameters=[{"name": "d", "index": ["I", "I"], "default": 1}])
    result, peak = peak_megabytes(lambda: resolve_data(f))
    assert isinstance(result, ModelTooLargeError) and peak < 50
    assert str(result).startswith("parameter 'd':")
    assert "100,000 (I) x 100,000 (I)" in str(result)


def test_the_limit_is_configurable(monkeypatch):
    bakery = load_formulation(EXAMPLES / "bakery_lp.json")
    compile_arrays(bakery)
    monkeypatch.setenv("NL2OPT_MAX_TERMS", "10")
    with pytest.raises(ModelTooLargeError, match="limit is 10\\b"):
        compile_arrays(bakery)
    monkeypatch.setenv("NL2OPT_MAX_TERMS", "lots")
    with pytest.raises(Nl2OptError, match="NL2OPT_MAX_TERMS='lots' is not a whole number"):
        current_limits()


EXAMPLE_MODELS = sorted(p for p in EXAMPLES.glob("*.json") if p.stem != "expected")


@pytest.mark.parametrize("path", EXAMPLE_MODELS, ids=lambda p: p.stem)
def test_the_estimate_bounds_what_the_compiler_builds(path):
    f = load_formulation(path)
    try:
        model = compile_arrays(f)
    except Nl2OptError:  # nonlinear examples go through Pyomo; the estimate still applies
        return
    data = model.data
    estimate = estimate_size(f, parse_or_raise(f), data.set_sizes())
    built = model.matrix.nnz + model.num_rows + model.num_cols
    built += model.quadratic.nnz if model.quadratic is not None else 0
    assert estimate.total >= built
    with pytest.raises(ModelTooLargeError):
        check_model_size(f, parse_or_raise(f), data.set_sizes(),
                         Limits(max_terms=estimate.total - 1))


def test_the_memory_cap_turns_a_huge_allocation_into_memory_error():
    import numpy as np

    with memory_cap(256) as limit_mb:
        assert limit_mb > 256  # what the process uses now, plus 256 MB
        with pytest.raises(MemoryError):
            np.ones(2**31)  # 16 GB
        with pytest.raises(ModelTooLargeError, match="Solving ran out of memory.*"
                           f"{limit_mb:,} MB of address space"), memory_capped("Solving"):
            np.ones(2**31)
    np.ones(2**20)  # the cap is lifted afterwards
