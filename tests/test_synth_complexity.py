"""S(PD) on hand-counted models, and the feedback loop that tunes sizes to a band."""

from __future__ import annotations

import pytest
from helpers import formulation

from nl2opt.synthesis import tuning
from nl2opt.synthesis.complexity import complexity
from nl2opt.synthesis.families import get_family
from nl2opt.synthesis.tuning import Probe, Targets, score_sizes, tune_family

TWO = [{"name": "I", "elements": ["a", "b"]}]


def test_mixed_integer_model_counts_by_hand():
    model = formulation(
        variables=[{"name": "y", "index": ["I"], "type": "binary"},
                   {"name": "n", "type": "integer", "upper": 10},
                   {"name": "x", "index": ["I"]},
                   {"name": "z", "lower": 5, "upper": 5},  # fixed: not a decision
                   {"name": "u"}],  # used nowhere: not counted
        objective="sum(y[i] + x[i] for i in I) + n",
        constraints=["sum(x[i] for i in I) + n <= 10",
                     {"name": "link", "forall": ["i in I"], "expression": "x[i] <= 100 * y[i]"},
                     "n >= 1", "z + n >= 2"],
        sets=TWO)
    counts = complexity(model)
    assert (counts.n_bin, counts.n_int, counts.n_cont) == (2, 1, 2)
    assert (counts.n_lin, counts.n_quad, counts.n_general, counts.big_m) == (5, 0, 0, 2)
    assert counts.avg_terms == pytest.approx(10 / 5)
    # 1.0*2 + 1.5*1 + 0.5*2 + 0.5*5 + 5.0*2 + 0.1*2
    assert counts.score == pytest.approx(17.2)


def test_nonlinear_rows_are_quadratic_or_general():
    model = formulation(
        variables=[{"name": "x", "lower": 1, "upper": 3}, {"name": "y", "lower": 1, "upper": 3}],
        objective="x + y",
        constraints=["x * y >= 2", "x + y <= 4", "exp(x) <= 15"])
    counts = complexity(model)
    assert (counts.n_cont, counts.n_lin, counts.n_quad, counts.n_general) == (2, 1, 1, 1)
    assert counts.avg_terms == pytest.approx((2 + 1 + 1) / 3)
    assert counts.score == pytest.approx(0.5 * 2 + 0.5 + 2.5 + 3.0 + 0.1 * 4 / 3, abs=1e-4)


def test_rows_are_counted_after_forall_and_where():
    model = formulation(
        variables=[{"name": "x", "index": ["I", "I"], "type": "binary"}],
        objective="sum(x[i, j] for i in I for j in I)",
        constraints=[{"name": "pairs", "forall": ["i in I", "j in I"], "where": "i != j",
                      "expression": "x[i, j] + x[j, i] <= 1"}],
        sets=TWO, sense="maximize")
    counts = complexity(model)
    assert (counts.n_bin, counts.n_lin, counts.avg_terms) == (4, 2, 2.0)


def test_probe_verdicts():
    targets = Targets(complexity=(10, 20), solve_seconds=(0.5, 5), feasible_rate=0.9)
    assert Probe({}, (5,)).verdict(targets) == "too simple"
    assert Probe({}, (25,)).verdict(targets) == "too complex"
    assert Probe({}, (15,), (1, 9), 1.0).verdict(targets) == "too slow"
    assert Probe({}, (15,), (0.1, 0.1), 1.0).verdict(targets) == "too fast"
    assert Probe({}, (15,), (1, 1), 0.5).verdict(targets) == "too often infeasible"
    assert Probe({}, (15,), (1, 1), 1.0).verdict(targets) == "fits"


def test_feedback_loop_reaches_a_complexity_band():
    family = get_family("knapsack")
    targets = Targets(complexity=(20, 40), probes=2)
    result = tune_family(family, targets)
    assert result.reached and result.origin == "search", result.note
    assert all(20 <= s <= 40 for s in score_sizes(family, result.sizes, range(5)))
    assert result.probes[-1].feasible == 1.0


def test_feedback_loop_moves_to_simpler_sizes_when_solves_are_slow(monkeypatch):
    """Solve times are faked (seconds = items / 10) so the logic is tested, not the clock."""
    def fake_probe(family, sizes, targets, seed, origin="search"):
        scores = score_sizes(family, sizes, range(seed, seed + targets.probes))
        return Probe(sizes, scores, (sizes["items"] / 10,) * targets.probes, 1.0, origin)

    monkeypatch.setattr(tuning, "solve_probe", fake_probe)
    result = tune_family(get_family("knapsack"), Targets(complexity=(20, 200), solve_seconds=(
        0.0, 4.0), probes=2))
    assert result.reached and result.sizes["items"] <= 40
    solved = [p for p in result.probes if p.seconds]
    assert solved[0].verdict(Targets(complexity=(20, 200), solve_seconds=(0, 4))) == "too slow"


def test_feedback_loop_says_when_a_band_is_out_of_reach():
    result = tune_family(get_family("knapsack"), Targets(complexity=(5000, 6000), probes=1))
    assert not result.reached
    assert "no size of knapsack gives complexity in (5000, 6000)" in result.note
    assert result.sizes == {"items": 400}


def test_llm_proposals_are_probed_first():
    proposals = [[{"items": 5}], [{"items": 30}]]
    result = tune_family(get_family("knapsack"), Targets(complexity=(20, 40), probes=1),
                         proposer=lambda family, targets, probes: proposals[len(probes)])
    assert result.reached and result.origin == "llm" and result.sizes == {"items": 30}
    assert [p.origin for p in result.probes] == ["llm", "llm"]
