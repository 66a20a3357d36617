"""The semantic review of a solved model: fact coverage, then one LLM request.

A model can be valid, compile, solve and still answer another question than
the one asked. After a track's first successful solve, two checks look at it
once: the deterministic fact coverage (every number of the statement used?)
and, if that is clean, an LLM review that gets the problem, the formulation
in compact math and the solution, and returns a structured verdict: for each
requirement of the text, where it is encoded, and a list of findings with the
element to change. Findings become feedback for the existing repair loop.
Labels and reference answers never enter a review.
"""

from __future__ import annotations

from enum import Enum
from functools import lru_cache

from pydantic import BaseModel, Field, ValidationError

from nl2opt.coverage import check_coverage, coverage_feedback
from nl2opt.formulation.model import Formulation
from nl2opt.formulation.render_text import render_text
from nl2opt.llm.jsontext import extract_json
from nl2opt.llm.types import LLMRequest, LLMResponse, Sampling
from nl2opt.pipeline.prompts import render_prompt
from nl2opt.solvers.result import SolveResult, Termination

REVIEW_PROMPT = "review.v1"
MAX_DATA_SHOWN = 40  # data entries per level shown to the reviewer
MAX_VALUES_SHOWN = 60  # nonzero variable values shown to the reviewer


class FindingKind(str, Enum):
    missing_requirement = "missing_requirement"
    wrong_direction = "wrong_direction"
    wrong_coefficient = "wrong_coefficient"
    wrong_domain = "wrong_domain"
    wrong_aggregation = "wrong_aggregation"
    wrong_objective = "wrong_objective"
    other = "other"


class Requirement(BaseModel):
    requirement: str = Field(description="a requirement of the text, in its words")
    encoded_in: str = Field(description="the element that encodes it, or 'missing'")


class Finding(BaseModel):
    kind: FindingKind
    element: str = Field(description="the element to change, e.g. constraint 'capacity'")
    problem: str = Field(description="what is wrong, quoting the text")
    change: str = Field(description="what to change")


class ReviewVerdict(BaseModel):
    """What the reviewing LLM answers."""

    requirements: list[Requirement] = Field(default_factory=list)
    findings: list[Finding] = Field(default_factory=list)


class ReviewRecord(BaseModel):
    """One review of one attempt's model: the coverage check and the LLM's verdict."""

    round: int
    unused_facts: list[str] = Field(default_factory=list)
    invented_values: list[str] = Field(default_factory=list)
    prompt_id: str = ""
    prompt_hash: str = ""
    raw_response: str = ""
    verdict: ReviewVerdict | None = None
    feedback: list[str] = Field(default_factory=list)  # what went back to the repair loop
    error: str = ""
    termination: str | None = None  # the reviewed model's answer
    objective: float | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    llm_seconds: float = 0.0


@lru_cache(maxsize=1)
def review_schema() -> dict:
    return ReviewVerdict.model_json_schema()


def wants_review(result: SolveResult | None, reviewed: bool, round_number: int,
                 rounds: int) -> bool:
    """Review a model once, when it solved to optimality and a repair round is left."""
    return (not reviewed and round_number < rounds and result is not None
            and result.termination is Termination.optimal)


def coverage_review(problem: str, formulation: Formulation, result: SolveResult,
                    round_number: int) -> ReviewRecord:
    """The deterministic half: unused facts become feedback, invented values a note."""
    coverage = check_coverage(problem, formulation)
    return ReviewRecord(round=round_number, termination=result.termination.value,
                        objective=result.objective,
                        unused_facts=[fact.describe() for fact in coverage.unused],
                        invented_values=[f"{n.where} = {n.value:g}" for n in coverage.invented],
                        feedback=coverage_feedback(coverage, invented=False))


def review_request(problem: str, formulation: Formulation, result: SolveResult,
                   max_tokens: int = 2048, structured: bool = True) -> LLMRequest:
    prompt = render_prompt(REVIEW_PROMPT, problem=problem.strip(),
                           model=render_text(formulation, max_shown=MAX_DATA_SHOWN),
                           solution=solution_text(result))
    return LLMRequest(messages=prompt.messages, n=1,
                      sampling=Sampling(temperature=0.0, max_tokens=max_tokens),
                      json_schema=review_schema() if structured else None,
                      schema_name="review_verdict", prompt_id=prompt.id,
                      prompt_hash=prompt.hash)


def solution_text(result: SolveResult, limit: int = MAX_VALUES_SHOWN) -> str:
    """The answer with names and values: objective, then the nonzero decisions."""
    lines = [f"Status: {result.termination.value}; objective = {result.objective:.10g}"
             if result.objective is not None else f"Status: {result.termination.value}"]
    values = [(f"{v.name}[{', '.join(map(str, key))}]" if key else v.name, value)
              for v in result.variables.values() for key, value in v.values
              if abs(value) > 1e-9]
    lines += [f"{name} = {value:.6g}" for name, value in values[:limit]]
    if len(values) > limit:
        lines.append(f"... and {len(values) - limit} more nonzero values")
    if not values:
        lines.append("All variables are zero.")
    return "\n".join(lines)


def read_review(record: ReviewRecord, request: LLMRequest, response: LLMResponse,
                llm_seconds: float) -> ReviewRecord:
    """Fill `record` from the LLM's reply; findings become repair feedback."""
    record.prompt_id, record.prompt_hash = request.prompt_id, request.prompt_hash
    record.raw_response, record.llm_seconds = response.text, llm_seconds
    record.prompt_tokens = response.usage.prompt_tokens
    record.completion_tokens = response.usage.completion_tokens
    payload = response.parsed if response.parsed is not None else extract_json(response.text)
    try:
        record.verdict = ReviewVerdict.model_validate(payload)
    except ValidationError as error:
        record.error = f"the review reply is not a verdict ({error.error_count()} schema errors)"
        return record
    record.feedback = [finding_feedback(f) for f in record.verdict.findings]
    return record


def finding_feedback(finding: Finding) -> str:
    """A finding worded like the loop's other repair instructions."""
    kind = finding.kind.value.replace("_", " ")
    return (f"Review ({kind}) of {finding.element}: {finding.problem.rstrip('.')}. "
            f"Change: {finding.change.rstrip('.')}.")
