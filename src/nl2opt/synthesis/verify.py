"""Accept or reject a text/formulation pair: a pure function of picklable data.

The formulation recovered from the text by nl2opt's pipeline is compared with
the source formulation: first by `isomorphic` (the compiled models are the same up
to names and order: a certificate without any solve, and the usual case for a
faithful text), else by `nl2opt.equivalent`. Equivalent: accepted (rule
"equivalence"). Not equivalent: rejected, with the checker's reason and
counterexample. Unknown (no complete variable map, a nonconvex or mixed-integer
quadratic model, a solve cut short): the fallback rule compares the recovered
model's status and optimal value with the label under the canonical tolerance
of `nl2opt eval` (rule "status_and_value").

An "equivalent" verdict is accepted only when the recovered model also reproduces
the label (status, and optimal value within the canonical tolerance): the label
is what `nl2opt eval` will score answers against, so a text whose faithful model
gives another value (a rescaled objective, say) would make a wrong benchmark item.
It also guards against degenerate certificates: the checker can "map" a model
onto one with its constraints dropped by shifting matched columns onto the other
model's optimum (reproduced in tests/test_synth_llm.py).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import scipy.sparse as sp

from nl2opt.equivalence.instance import InstanceModel
from nl2opt.equivalence.matching import name_matching, wl_matching
from nl2opt.errors import Nl2OptError
from nl2opt.evaluation.scoring import CANONICAL_TOLERANCE, score
from nl2opt.formulation.model import Formulation
from nl2opt.synthesis.records import Acceptance


@dataclass(frozen=True)
class VerifyJob:
    uid: str
    source: dict
    recovered: dict | None
    data_dir: str
    answer_status: str
    answer: float | None
    recovered_status: str | None = None
    recovered_objective: float | None = None
    failure: str = ""  # why there is no recovered formulation
    time_limit: float = 30.0
    # Distinct optima per model used to verify a map (the checker's default is 4). Two
    # keep soundness and coverage checked on more than one optimum at about half the
    # solves, which matters when every synthetic pair is checked (bench/synth_throughput).
    samples: int = 2


def verify_pair(job: VerifyJob) -> Acceptance:
    if job.recovered is None:
        return Acceptance(accepted=False, stage="formulate",
                          reason=job.failure or "the pipeline gave no formulation")
    verdict, reason = _equivalence(job)
    common = {"equivalence": verdict, "recovered_status": job.recovered_status,
              "recovered_objective": job.recovered_objective}
    label = {"answer_status": job.answer_status, "answer": job.answer}
    reproduces = score(job.recovered_status, job.recovered_objective, label).correct
    if verdict == "equivalent" and reproduces:
        return Acceptance(accepted=True, rule="equivalence", reason=reason, **common)
    if verdict == "equivalent":
        return Acceptance(accepted=False, stage="verify", **common,
                          reason=f"equivalent by the checker ({reason}), but "
                                 f"{_outcome(job)} differ")
    if verdict == "not_equivalent":
        return Acceptance(accepted=False, stage="verify", reason=f"not equivalent: {reason}; "
                          + _outcome(job), **common)
    if reproduces:
        return Acceptance(accepted=True, rule="status_and_value", **common,
                          reason=f"equivalence unknown ({reason}); {_outcome(job)} agree "
                                 f"within {CANONICAL_TOLERANCE:g} relative")
    return Acceptance(accepted=False, stage="verify", **common,
                      reason=f"equivalence unknown ({reason}) and {_outcome(job)} differ")


def _equivalence(job: VerifyJob) -> tuple[str, str]:
    from nl2opt.equivalence import equivalent, from_formulation

    try:
        source = Formulation.model_validate(job.source).with_data_dir(job.data_dir)
        recovered = Formulation.model_validate(job.recovered).with_data_dir(job.data_dir)
        if isomorphic(from_formulation(source), from_formulation(recovered)):
            return "equivalent", ("the compiled models are the same up to the names and "
                                  "order of variables and constraints")
        report = equivalent(source, recovered, samples=job.samples,
                            time_limit=job.time_limit, budget=4 * job.time_limit)
    except Nl2OptError as error:
        return "unknown", f"the checker could not compare them: {error}"
    reason = report.reason
    if report.counterexample and report.counterexample.get("explanation"):
        reason += f" (counterexample: {report.counterexample['explanation']})"
    return report.verdict, reason


def _outcome(job: VerifyJob) -> str:
    def show(status, value) -> str:
        return f"{status}" + (f" {value:.10g}" if value is not None else "")

    return (f"recovered {show(job.recovered_status, job.recovered_objective)} vs label "
            f"{show(job.answer_status, job.answer)}")


def isomorphic(a: InstanceModel, b: InstanceModel) -> bool:
    """Are two instantiated models identical up to renaming and reordering columns and
    rows, and scaling a row by a nonzero factor (which also covers negating it)? A
    certificate of equivalence that needs no solve, checked first."""
    if (a.num_cols, a.num_rows, a.maximize) != (b.num_cols, b.num_rows, b.maximize) or \
            not np.isclose(a.offset, b.offset):
        return False
    a, b = _unit_rows(a), _unit_rows(b)
    mapping = name_matching(a, b)
    if len(set(mapping.values())) != a.num_cols:
        mapping = wl_matching(a, b) or {}
    if len(set(mapping.values())) != a.num_cols:
        return False
    order = np.array([mapping[k] for k in range(a.num_cols)], dtype=np.int64)
    same = all(np.allclose(x, y[order], rtol=1e-9, atol=1e-12) for x, y in (
        (a.lower, b.lower), (a.upper, b.upper), (a.objective, b.objective))) and \
        np.array_equal(a.integer, b.integer[order])
    return same and sorted(_rows(a, order)) == sorted(_rows(b, None)) and \
        _quadratic(a, order) == _quadratic(b, None)


def _quadratic(model: InstanceModel, order: np.ndarray | None) -> list[tuple]:
    """The quadratic objective's terms (i <= j, summed), columns renumbered by `order`."""
    if not model.has_quadratic:
        return []
    q = model.quadratic.tocoo()
    rows, cols = (order[q.row], order[q.col]) if order is not None else (q.row, q.col)
    terms: dict[tuple[int, int], float] = {}
    for i, j, value in zip(np.minimum(rows, cols), np.maximum(rows, cols), q.data):
        terms[(int(i), int(j))] = terms.get((int(i), int(j)), 0.0) + float(value)
    return sorted((key, _digits(value)) for key, value in terms.items() if value)


def _unit_rows(model: InstanceModel) -> InstanceModel:
    """The model with each row divided by its largest |coefficient| (so structure
    matching sees `2x + 2y <= 4` and `x + y <= 2` alike)."""
    matrix = model.matrix.tocsr()
    scale = np.ones(model.num_rows)
    if matrix.nnz:
        largest = abs(matrix).max(axis=1).toarray().ravel()
        scale = np.where(largest > 0, largest, 1.0)
    inverse = sp.diags(1.0 / scale)
    return replace(model, matrix=(inverse @ matrix).tocsr(), row_lower=model.row_lower / scale,
                   row_upper=model.row_upper / scale)


def _rows(model: InstanceModel, order: np.ndarray | None) -> list[tuple]:
    """Each (unit-scaled) row as a canonical tuple: columns in the other model's
    numbering when `order` is given, and of the row and its negation the smaller (so
    `x + y <= 2` and `-x - y >= -2` compare equal)."""
    matrix = model.matrix.tocsr()
    rows = []
    for r in range(model.num_rows):
        span = slice(matrix.indptr[r], matrix.indptr[r + 1])
        cols, coefs = matrix.indices[span], matrix.data[span]
        cols = order[cols] if order is not None else cols
        terms = sorted(zip(cols.tolist(), (_digits(c) for c in coefs)))
        low, high = _digits(model.row_lower[r]), _digits(model.row_upper[r])
        negated = (sorted((c, -v) for c, v in terms), -high, -low)
        rows.append(min((terms, low, high), negated))
    return rows


def _digits(value: float) -> float:
    """A value to 9 significant digits (so solver-free comparisons ignore rounding)."""
    return float(f"{value:.9g}")
