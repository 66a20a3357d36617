"""Voting over sampled formulations: by objective value, or by equivalence.

Two models with the same optimal value are not necessarily the same model,
and two equivalent models (one in dollars, one in thousands of dollars) can
report different values. Voting by equivalence groups the samples with the
equivalence checker (nl2opt.equivalence, a short time budget per pair) and
answers with the largest class; where the checker cannot decide in time, the
pair falls back to comparing objective values.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from nl2opt.formulation.model import Formulation
from nl2opt.pipeline.report import SampleOutcome, VoteClass
from nl2opt.solvers.result import Termination

PAIR_SECONDS = 5.0  # equivalence check time per pair of samples
PERMUTATION_MAPS = ("name-match", "wl-match")


def vote_key(outcome: SampleOutcome):
    if outcome.termination is None:
        return None
    if outcome.objective is not None and outcome.termination == Termination.optimal.value:
        return ("optimal", outcome.objective)
    return (outcome.termination, None)


def same_answer(a, b) -> bool:
    if a[0] != b[0]:
        return False
    if a[1] is None or b[1] is None:
        return a[1] is None and b[1] is None
    return abs(a[1] - b[1]) <= 1e-6 * max(1.0, abs(a[1]), abs(b[1]))


def equivalence_classes(outcomes: Sequence[SampleOutcome],
                        formulations: Sequence[Formulation | None],
                        budget: float = 30.0) -> list[VoteClass]:
    """Group the answered samples: each joins the first class whose representative it is
    equivalent to (or, when the checker cannot decide, has the same answer as)."""
    deadline = time.monotonic() + budget
    classes: list[VoteClass] = []
    for outcome in outcomes:
        key = vote_key(outcome)
        if key is None:
            continue
        for group in classes:
            method = _same_model(outcome, group, outcomes, formulations, deadline)
            if method:
                group.samples.append(outcome.sample)
                group.methods.append(method)
                break
        else:
            classes.append(VoteClass(samples=[outcome.sample], termination=outcome.termination,
                                     objective=outcome.objective, methods=["representative"]))
    return classes


def _same_model(outcome: SampleOutcome, group: VoteClass, outcomes, formulations,
                deadline: float) -> str:
    """'equivalence' or 'objective' when `outcome` belongs to `group`, else ''."""
    first = group.samples[0]
    representative = next(o for o in outcomes if o.sample == first)
    a, b = formulations[first], formulations[outcome.sample]
    remaining = deadline - time.monotonic()
    both_optimal = outcome.termination == representative.termination == "optimal"
    if both_optimal and a is not None and b is not None and remaining > 0.5:
        verdict = _checked(a, b, min(PAIR_SECONDS, remaining))
        if verdict in ("equivalent", "not_equivalent"):
            return "equivalence" if verdict == "equivalent" else ""
    return "objective" if same_answer(vote_key(outcome), vote_key(representative)) else ""


def _checked(a: Formulation, b: Formulation, seconds: float) -> str:
    """The checker's verdict, trusting only certificates that rename or permute variables:
    a fitted affine map (e.g. b = b' + 1) carries any unique optimum to any other, which
    says nothing about two samples being the same model."""
    from nl2opt.equivalence import equivalent
    from nl2opt.errors import Nl2OptError

    try:
        report = equivalent(a, b, time_limit=seconds, budget=seconds, samples=2,
                            fit_samples=8)
    except Nl2OptError:
        return "unknown"
    if report.verdict == "equivalent" and report.method not in PERMUTATION_MAPS:
        return "unknown"
    return report.verdict


def choose_class(classes: list[VoteClass], outcomes: Sequence[SampleOutcome]) -> VoteClass | None:
    """The largest class; ties go to the class whose best member has the fewest issues."""
    if not classes:
        return None
    issues = {o.sample: o.issues for o in outcomes}
    return max(classes, key=lambda c: (c.size, -min(issues[s] for s in c.samples),
                                       -c.samples[0]))


def objective_classes(outcomes: Sequence[SampleOutcome]) -> list[VoteClass]:
    """The answered samples grouped by answer (termination and objective value)."""
    classes: list[VoteClass] = []
    for outcome in outcomes:
        key = vote_key(outcome)
        if key is None:
            continue
        group = next((c for c in classes if same_answer(key, vote_key(SampleOutcome(
            sample=c.samples[0], termination=c.termination, objective=c.objective)))), None)
        if group is None:
            classes.append(VoteClass(samples=[outcome.sample], termination=outcome.termination,
                                     objective=outcome.objective, methods=["representative"]))
        else:
            group.samples.append(outcome.sample)
            group.methods.append("objective")
    return classes
