"""Accept or reject a text/formulation pair: a pure function of picklable data.

The formulation recovered from the text by nl2opt's pipeline is compared with
the source formulation by `nl2opt.equivalent`. Equivalent: accepted (rule
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

from dataclasses import dataclass

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
    from nl2opt.equivalence import equivalent

    try:
        source = Formulation.model_validate(job.source).with_data_dir(job.data_dir)
        recovered = Formulation.model_validate(job.recovered).with_data_dir(job.data_dir)
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
