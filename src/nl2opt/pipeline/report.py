"""The record of a formulate-and-solve run: every attempt, and the final answer."""

from __future__ import annotations

from pydantic import BaseModel, Field

from nl2opt.formulation.model import Formulation
from nl2opt.pipeline.alternatives import AlternativeOutcome
from nl2opt.pipeline.explain import explain  # noqa: F401 (re-exported: the answer's wording)
from nl2opt.pipeline.llm_code import CodeCheck
from nl2opt.pipeline.review import ReviewRecord
from nl2opt.solvers.result import SolveResult, Termination


class Attempt(BaseModel):
    """One LLM answer and what became of it."""

    sample: int = 0
    round: int = 0
    prompt_id: str = ""
    prompt_hash: str = ""
    messages: list[dict] = Field(default_factory=list)
    raw_response: str = ""
    reasoning: str = ""
    formulation: dict | None = None
    stage: str = ""  # where it stopped: reply, validate, compile, solve, check, done
    problems: list[str] = Field(default_factory=list)
    warnings: int = 0
    termination: str | None = None
    objective: float | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    llm_seconds: float = 0.0
    check_seconds: float = 0.0
    solve_seconds: float = 0.0
    review_enabled: bool = False  # whether the semantic review was on for this run
    review: ReviewRecord | None = None  # the review of this attempt's model, if any
    alternatives: list[dict] = Field(default_factory=list)  # as declared in the reply
    alternatives_note: str = ""  # why declared alternatives were ignored
    insight_ids: list[str] = Field(default_factory=list)  # experience-library insights shown


class SampleOutcome(BaseModel):
    sample: int
    termination: str | None
    objective: float | None
    votes: int = 0
    issues: int = 0


class VoteClass(BaseModel):
    """Samples judged to be the same model (by equivalence) or the same answer."""

    samples: list[int]
    termination: str | None = None
    objective: float | None = None  # the first member's
    methods: list[str] = Field(default_factory=list)  # how each member joined

    @property
    def size(self) -> int:
        return len(self.samples)


class Report(BaseModel):
    """Everything `nl2opt.solve` produced for one problem."""

    problem: str = ""
    llm: str = ""
    formulation: Formulation | None = None
    code: str = ""
    result: SolveResult | None = None
    explanation: str = ""
    attempts: list[Attempt] = Field(default_factory=list)
    samples: list[SampleOutcome] = Field(default_factory=list)
    agreement: float | None = None
    code_check: CodeCheck | None = None  # LLM-written code mode only
    error: str = ""
    # Semantic checks: interpretation alternatives (primary first in each) and the vote.
    alternatives: list[AlternativeOutcome] = Field(default_factory=list)
    vote_method: str = ""  # "equivalence" or "objective" (several samples only)
    vote_classes: list[VoteClass] = Field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.result is not None and self.result.termination is Termination.optimal

    @property
    def objective(self) -> float | None:
        return self.result.objective if self.result else None

    @property
    def total_tokens(self) -> int:
        return sum(a.prompt_tokens + a.completion_tokens for a in self.attempts)

    @property
    def insight_ids(self) -> list[str]:
        """The experience-library insights the LLM was shown, in first-use order."""
        return list(dict.fromkeys(i for a in self.attempts for i in a.insight_ids))

    @property
    def rounds_used(self) -> int:
        return max((a.round for a in self.attempts), default=0)

    @property
    def reviews(self) -> list[ReviewRecord]:
        return [a.review for a in self.attempts if a.review is not None]


def semantic_lines(report: Report) -> list[str]:
    """The review's findings, the interpretation alternatives and the vote, as text lines
    (for the CLI and logs)."""
    lines = []
    for review in report.reviews:
        found = review.feedback or ([] if review.error else ["no findings"])
        where = f"review of round {review.round}"
        lines += [f"{where}: {line}" for line in found]
        if review.error:
            lines.append(f"{where}: {review.error}")
    for alternative in report.alternatives:
        lines.append(f"alternatives ({alternative.choice}): {alternative.summary()}")
        if alternative.reason:
            lines.append(f"  primary because: {alternative.reason}")
    if report.vote_classes:
        sizes = ", ".join(f"{len(c.samples)} x {_answer(c.termination, c.objective)}"
                          for c in report.vote_classes)
        lines.append(f"vote by {report.vote_method}: classes {sizes}")
    return lines


def _answer(termination: str | None, objective: float | None) -> str:
    if termination == "optimal" and objective is not None:
        return f"{objective:.6g}"
    return termination or "no answer"
