"""`equivalent(a, b)`: find a variable map between two formulations and verify it.

Candidates, cheapest first, in both directions (A's variables in terms of B's,
then B's in terms of A's): the name matching, the WL structural matching, a map
fitted from steered paired solutions, and, when an LLM is given, its proposal.
The first candidate that passes verification is the certificate. Without one,
a complete candidate refuted by a counterexample gives "not_equivalent"; with
no complete candidate at all the answer is "unknown".
"""

from __future__ import annotations

import time

import numpy as np

from nl2opt.equivalence.baselines import optimal_value_baseline, wl_baseline
from nl2opt.equivalence.fitting import fit_map, paired_samples
from nl2opt.equivalence.instance import InstanceModel, load_instance
from nl2opt.equivalence.maps import AffineMap, MappingError, permutation_map
from nl2opt.equivalence.matching import name_matching, wl_matching
from nl2opt.equivalence.region import region_problem
from nl2opt.equivalence.report import Attempt, EquivalenceReport
from nl2opt.equivalence.solving import (
    Solution,
    random_directions,
    sample_optima,
    solve,
    time_budget,
)
from nl2opt.equivalence.verify import (
    NearOptimal,
    Verification,
    record_problem,
    status_counterexample,
    verify_map,
)


def equivalent(a, b, llm=None, *, samples: int = 4, seed: int = 0,
               fit_samples: int = 16, time_limit: float = 30.0,
               budget: float | None = None) -> EquivalenceReport:
    """Decide whether formulations `a` and `b` are equivalent (EquivaMap-style).

    `a`, `b`: Formulation, formulation JSON (path, text or dict), .lp/.mps path, .py
    script path (run in the sandbox), or InstanceModel. `llm`: an LLMBackend or spec
    string; without it only LLM-free mapping is tried. `samples`: distinct optima
    per model used for verification. `time_limit` bounds each solve, `budget` all
    solves of the comparison (seconds); solves cut short make the answer "unknown".
    """
    with time_budget(budget) as cut_short:
        report = _equivalent(a, b, llm, samples, seed, fit_samples, time_limit)
    if cut_short and report.verdict == "not_equivalent" and report.counterexample and \
            report.counterexample.get("kind") != "status":
        # Some candidates or samples were never checked: the refutation is incomplete.
        report.verdict = "unknown"
        report.reason = (f"{len(cut_short)} solve(s) hit the time limit or budget before "
                         "every candidate map was checked; " + report.reason)
    return report


def _equivalent(a, b, llm, samples, seed, fit_samples, time_limit) -> EquivalenceReport:
    started = time.perf_counter()
    model_a, model_b = load_instance(a), load_instance(b)
    _name_sources(model_a, model_b)
    sa, sb = solve(model_a, time_limit=time_limit), solve(model_b, time_limit=time_limit)
    report = EquivalenceReport(verdict="unknown", reason="", a=model_a.source,
                               b=model_b.source, status_a=sa.status, status_b=sb.status,
                               objective_a=sa.objective, objective_b=sb.objective)
    report.baselines = {"optimal_value": optimal_value_baseline(sa, sb),
                        "wl_graph": wl_baseline(model_a, model_b)}
    if not _decide_by_status(report, model_a, model_b, sa, sb):
        _search(report, model_a, model_b, sa, sb, llm, samples, seed, fit_samples)
    report.seconds = time.perf_counter() - started
    return report


def _name_sources(a: InstanceModel, b: InstanceModel) -> None:
    a.source = a.source or "A"
    b.source = b.source or "B"
    if a.source == b.source:
        a.source, b.source = f"A ({a.source})", f"B ({b.source})"


def _decide_by_status(report: EquivalenceReport, a, b, sa: Solution, sb: Solution) -> bool:
    """Settle cases decided by solve outcomes alone; True when settled."""
    bad = {"error", "unsupported", "infeasible_or_unbounded"}
    if sa.status in bad or sb.status in bad:
        report.reason = (f"could not solve both models (A: {sa.status} {sa.message}; "
                         f"B: {sb.status} {sb.message})")
        return True
    if sa.ok and sb.ok:
        return False
    if sa.status == sb.status == "infeasible":
        report.verdict, report.reason = "equivalent", "both models are infeasible"
        return True
    if sa.status == sb.status:
        report.reason = f"both models are {sa.status}; there are no optima to map"
        return True
    report.verdict = "not_equivalent"
    report.reason = f"A is {sa.status} but B is {sb.status}"
    report.counterexample = status_counterexample(a, b, sa, sb)
    return True


def _search(report, a: InstanceModel, b: InstanceModel, sa: Solution, sb: Solution, llm,
            samples: int, seed: int, fit_samples: int) -> None:
    samples_a = sample_optima(a, sa, random_directions(a.num_cols, samples, seed + 1))
    samples_b = sample_optima(b, sb, random_directions(b.num_cols, samples, seed + 2))
    near = NearOptimal([sa, sb], count=2 * samples, seed=seed + 4)
    refuted = None
    for target, source, label, t_opt, s_opt, t_samples, s_samples in (
            (a, b, "B -> A", sa, sb, samples_a, samples_b),
            (b, a, "A -> B", sb, sa, samples_b, samples_a)):
        for candidate in _candidates(target, source, t_opt, s_opt, seed, fit_samples):
            outcome = _verify(candidate, target, source, t_opt, s_opt, t_samples,
                              s_samples, near, seed)
            report.attempts.append(_attempt(candidate, label, outcome))
            if outcome.passed:
                _certify(report, candidate, target, source, label, outcome)
                return
            if candidate.complete and refuted is None and outcome.counterexample:
                refuted = outcome.counterexample
    if llm is not None:
        from nl2opt.equivalence.llm_map import propose_maps

        for candidate, note in propose_maps(llm, a, b):
            if candidate is None:
                report.attempts.append(Attempt(origin="llm", direction="B -> A",
                                               complete=False, passed=False, note=note))
                continue
            outcome = _verify(candidate, a, b, sa, sb, samples_a, samples_b, near, seed)
            report.attempts.append(_attempt(candidate, "B -> A", outcome))
            if outcome.passed:
                _certify(report, candidate, a, b, "B -> A", outcome)
                return
            refuted = refuted or outcome.counterexample
    if refuted is not None:
        report.verdict = "not_equivalent"
        report.reason = "every complete variable map tried was refuted by a counterexample"
        report.counterexample = refuted
    else:
        report.reason = ("no complete variable map was found (names and structure do not "
                         "match and no affine fit exists); try --llm")


def _verify(candidate: AffineMap, target: InstanceModel, source: InstanceModel,
            t_opt: Solution, s_opt: Solution, t_samples, s_samples, near: NearOptimal,
            seed: int) -> Verification:
    """Optima (verify_map), then the feasible regions (region_problem): a map that
    carries optima but not the region (a cut far from every optimum) is refuted."""
    outcome = verify_map(candidate, target, source, t_opt, s_opt, t_samples, s_samples, near)
    if not outcome.passed:
        return outcome
    record_problem(outcome, region_problem(candidate, target, source, t_opt, seed=seed + 5))
    return outcome


def _candidates(target: InstanceModel, source: InstanceModel, t_opt: Solution,
                s_opt: Solution, seed: int, fit_samples: int):
    """Candidate maps target <- source, cheapest first (generated lazily)."""
    by_name = name_matching(target, source)
    if by_name:
        yield permutation_map(by_name, target, source, "name-match")
    structural = wl_matching(target, source)
    if structural and structural != by_name:
        yield permutation_map(structural, target, source, "wl-match")
    correspondence = dict(structural or {})
    correspondence.update(by_name)
    if correspondence:
        xs, ys = paired_samples(target, source, t_opt, s_opt, correspondence, fit_samples,
                                seed + 3)
        base = permutation_map(correspondence, target, source, "fitted")
        fitted = fit_map(base, xs, ys, set(correspondence.values()), target, source)
        yield fitted
        if fitted.complete or not fitted.unsettled:
            return
        # Too few distinct points for a unique fit of some column (3 bit patterns of a
        # 4-valued binary expansion): refit once on more pairs.
        more_x, more_y = paired_samples(target, source, t_opt, s_opt, correspondence,
                                        fit_samples, seed + 6)
        yield fit_map(base, np.vstack([xs, more_x]), np.vstack([ys, more_y]),
                      set(correspondence.values()), target, source)


def _attempt(candidate: AffineMap, direction: str, outcome) -> Attempt:
    return Attempt(origin=candidate.origin, direction=direction, complete=candidate.complete,
                   passed=outcome.passed, soundness_checked=outcome.soundness_checked,
                   coverage_checked=outcome.coverage_checked, note="; ".join(outcome.notes))


def _certify(report, candidate: AffineMap, target, source, direction: str, outcome) -> None:
    report.verdict = "equivalent"
    report.method = candidate.origin
    report.direction = direction
    report.mapping = candidate.describe(target, source)
    report.reason = (f"a {candidate.origin} map carried {outcome.soundness_checked} optimal "
                     f"point(s) of {source.source} to optima of {target.source} and covered "
                     f"{outcome.coverage_checked} optimum/optima of {target.source}")


__all__ = ["MappingError", "equivalent"]
