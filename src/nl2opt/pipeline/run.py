"""Formulate, check, solve and repair: text in, `Report` out.

Each sample is a *track*: an LLM answer that is read, validated, compiled,
solved and checked; whatever goes wrong becomes targeted feedback for the
next round. All tracks that need a repair in a round go to the LLM in one
batch. With several samples, the answer is the majority objective value
(ties: fewest issues). Labels and reference answers never enter the loop.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Callable

from nl2opt.errors import FormulationError, Nl2OptError
from nl2opt.formulation.model import Formulation
from nl2opt.llm.types import LLMBackend, LLMError, LLMRequest, LLMResponse, Sampling
from nl2opt.pipeline.alternatives import Alternative, read_alternatives, solve_alternatives
from nl2opt.pipeline.insights import InsightProvider, PromptInsight, insight_ids
from nl2opt.pipeline.prompts import Prompt, fewshot_answer, render_prompt
from nl2opt.pipeline.reply import read_reply, reply_payload, reply_schema
from nl2opt.pipeline.report import Attempt, Report, SampleOutcome, VoteClass, explain
from nl2opt.pipeline.review import (
    ReviewRecord,
    coverage_review,
    read_review,
    review_request,
    wants_review,
)
from nl2opt.pipeline.stages import check_and_solve
from nl2opt.pipeline.voting import (
    choose_class,
    equivalence_classes,
    objective_classes,
    same_answer,
    vote_key,
)
from nl2opt.solvers.result import SolveResult, Termination

# formulate.v3: explicit wording beats the integer habit, interpretation alternatives,
# and the experience library's insights when there are any (v1, v2 are kept).
FORMULATE_PROMPT = "formulate.v3"
# formulate.v4 and repair.v3 show each insight as a quoted block ('> ' lines), so an
# insight's text cannot pass for the prompt's own lines; they are used only when there
# are insights, so runs without a library ask exactly what they asked before.
FORMULATE_WITH_INSIGHTS_PROMPT = "formulate.v4"
REPAIR_PROMPT = "repair.v1"
# repair.v2: repair.v1 plus the insights the first request showed (kept; see repair.v3).
REPAIR_WITH_INSIGHTS_PROMPT = "repair.v3"


@dataclass(frozen=True)
class PipelineOptions:
    rounds: int = 3
    samples: int = 1
    solver: str | None = None
    time_limit: float | None = 60.0
    temperature: float | None = None  # default: 0 for one sample, 0.7 for several
    max_tokens: int = 4096
    structured: bool = True
    code_mode: str = "generated"  # or "llm": the LLM writes the script (run sandboxed)
    data_dir: str | None = None  # the folder CSV sources are confined to (None: no reads)
    review: bool | None = None  # semantic review after a solve; None: on when rounds > 0
    vote: str = "equivalence"  # how several samples vote: "equivalence" or "objective"
    vote_budget: float = 30.0  # seconds of equivalence checking per problem
    alternatives: bool = True  # solve the interpretation variants a reply declares

    @property
    def reviewing(self) -> bool:
        return self.rounds > 0 if self.review is None else self.review

    def sampling(self) -> Sampling:
        default = 0.0 if self.samples == 1 else 0.7
        temperature = self.temperature if self.temperature is not None else default
        return Sampling(temperature=temperature, max_tokens=self.max_tokens)


@dataclass
class Track:
    """One sample's progress through the rounds."""

    sample: int
    attempts: list[Attempt] = field(default_factory=list)
    formulation: Formulation | None = None
    result: SolveResult | None = None
    best: tuple[Formulation, SolveResult] | None = None
    feedback: list[str] = field(default_factory=list)
    last_text: str = ""
    covered: bool = False  # the fact-coverage check has looked at it
    reviewed: bool = False  # the LLM review has looked at it
    prereview: SampleOutcome | None = None  # its answer before the semantic review
    alternatives: list[Alternative] = field(default_factory=list)  # the latest declared
    insights: Sequence[PromptInsight] = ()  # the library's insights its first request showed

    @property
    def done(self) -> bool:
        return bool(self.attempts) and not self.feedback

    @property
    def issues(self) -> int:
        last = self.attempts[-1] if self.attempts else None
        return (len(last.problems) + last.warnings) if last else 0


def formulation_request(problem: str, options: PipelineOptions, n: int = 1,
                        insights: Sequence[PromptInsight] = ()) -> LLMRequest:
    """The first request for a problem; with insights, the prompt that shows them (their
    ids travel in the request's metadata, so the attempt records them)."""
    return _request_with_insights(
        (FORMULATE_PROMPT, FORMULATE_WITH_INSIGHTS_PROMPT), insights, options, n,
        problem=problem.strip(), example_answer=fewshot_answer())


def repair_request(problem: str, track: Track, round_number: int,
                   options: PipelineOptions) -> LLMRequest:
    current = track.formulation.to_json() if track.formulation else track.last_text[:8000]
    return _request_with_insights(
        (REPAIR_PROMPT, REPAIR_WITH_INSIGHTS_PROMPT), track.insights, options, 1,
        problem=problem.strip(), formulation=current, round=round_number,
        feedback="\n".join(f"- {line}" for line in track.feedback))


def _request_with_insights(prompt_ids: tuple[str, str], insights: Sequence[PromptInsight],
                           options: PipelineOptions, n: int, **fields) -> LLMRequest:
    """The plain prompt without insights (runs without a library ask what they always
    asked); with them, the prompt that shows them and their ids in the metadata."""
    plain, with_insights = prompt_ids
    if not insights:
        return _request(render_prompt(plain, **fields), options, n)
    request = _request(render_prompt(with_insights, insights=list(insights), **fields),
                       options, n)
    request.metadata["insight_ids"] = insight_ids(insights)
    return request


def _request(prompt: Prompt, options: PipelineOptions, n: int) -> LLMRequest:
    return LLMRequest(messages=prompt.messages, n=n, sampling=options.sampling(),
                      json_schema=reply_schema() if options.structured else None,
                      schema_name="formulation_reply", prompt_id=prompt.id,
                      prompt_hash=prompt.hash)


Progress = Callable[[str], None]


def solve_text(problem: str, llm: LLMBackend, options: PipelineOptions = PipelineOptions(),
               progress: Progress | None = None, first_request: LLMRequest | None = None,
               insights: InsightProvider | None = None) -> Report:
    """The whole copilot loop for one problem statement.

    `progress`, if given, receives one short line per step (for live status
    displays). `first_request` replaces the formulation request, e.g. with a
    revision of an earlier model; repairs still use the repair prompt.
    `insights`, if given, supplies experience-library insights for the first
    request (see `nl2opt.pipeline.insights`).
    """
    note = progress or (lambda line: None)
    report = Report(problem=problem, llm=f"{llm.name}:{llm.model}")
    found = _retrieve(problem, insights, note) if first_request is None else ()
    first = first_request or formulation_request(problem, options, n=options.samples,
                                                 insights=found)
    note("Formulating: asking the LLM for a model" if first_request is None
         else f"Asking the LLM ({first.prompt_id or 'custom request'})")
    started = time.perf_counter()
    responses = llm.generate([first])[0]
    seconds = (time.perf_counter() - started) / max(len(responses), 1)
    tracks = [Track(sample=k, insights=found) for k in range(len(responses))]
    note("Checking and solving")
    for track, response in zip(tracks, responses):
        _advance(track, response, first, 0, seconds, options)
    # A revision's statement still holds the numbers its changes replaced: no coverage.
    facts = first_request is None
    review_round(problem, tracks, llm, options, 0, note, facts)
    for round_number in range(1, options.rounds + 1):
        pending = [t for t in tracks if not t.done]
        if not pending:
            break
        note(f"Repairing, round {round_number} of {options.rounds}: "
             f"{pending[0].feedback[0].split('. ')[0][:160]}")
        requests = [repair_request(problem, t, round_number, options) for t in pending]
        started = time.perf_counter()
        replies = llm.generate(requests)
        seconds = (time.perf_counter() - started) / len(requests)
        for track, request, reply in zip(pending, requests, replies):
            _advance(track, reply[0], request, round_number, seconds, options)
        review_round(problem, tracks, llm, options, round_number, note, facts)
    report = _conclude(report, tracks, options)
    if options.code_mode == "llm" and report.formulation is not None and report.result:
        from nl2opt.pipeline.llm_code import write_and_check

        report.code_check = write_and_check(problem, report.formulation, report.result, llm)
        report.code = report.code_check.code
    return report


def _retrieve(problem: str, insights: InsightProvider | None,
              note: Progress) -> Sequence[PromptInsight]:
    if insights is None:
        return ()
    note("Looking up insights in the experience library")
    return insights.retrieve(problem)


def formulate(problem: str, llm: LLMBackend, options: PipelineOptions = PipelineOptions(),
              insights: InsightProvider | None = None) -> Formulation:
    """Text to a checked formulation (solved once to catch infeasibility and the like)."""
    report = solve_text(problem, llm, options, insights=insights)
    if report.formulation is None:
        raise FormulationError(report.error or "the LLM gave no usable formulation")
    return report.formulation


def read_answer(track: Track, response: LLMResponse, request: LLMRequest, round_number: int,
                llm_seconds: float, data_dir: str | None = None
                ) -> tuple[Attempt, Formulation | None, list[str]]:
    """Record an LLM answer on its track and read the formulation out of it (no solving)."""
    attempt = Attempt(sample=track.sample, round=round_number, prompt_id=request.prompt_id,
                      prompt_hash=request.prompt_hash,
                      messages=[m.model_dump() for m in request.messages],
                      raw_response=response.text, llm_seconds=llm_seconds,
                      prompt_tokens=response.usage.prompt_tokens,
                      completion_tokens=response.usage.completion_tokens,
                      insight_ids=[i for i in request.metadata.get("insight_ids", "").split(",")
                                   if i])
    track.last_text = response.text
    formulation, attempt.reasoning, problems = read_reply(response)
    alternatives, attempt.alternatives_note = read_alternatives(reply_payload(response))
    if alternatives:
        track.alternatives = alternatives
        attempt.alternatives = [a.model_dump(mode="json", exclude_none=True)
                                for a in alternatives]
    attempt.stage = "reply"
    if formulation is not None and data_dir:
        formulation = formulation.with_data_dir(data_dir)
    if formulation is not None:
        track.formulation = formulation
        attempt.formulation = formulation.to_dict()
    return attempt, formulation, problems


def _advance(track: Track, response: LLMResponse, request: LLMRequest, round_number: int,
             llm_seconds: float, options: PipelineOptions) -> None:
    previous = track.formulation
    attempt, formulation, problems = read_answer(track, response, request, round_number,
                                                 llm_seconds, options.data_dir)
    attempt.review_enabled = options.reviewing
    if formulation is not None:
        problems = problems + _check_and_solve(track, formulation, attempt, options)
    if _kept_infeasible(previous, formulation, track.result, round_number):
        problems = []  # the statement itself is impossible: more rounds would only repeat
    attempt.problems = problems
    track.feedback = problems
    if not problems:
        attempt.stage = "done"
    track.attempts.append(attempt)


def _kept_infeasible(previous: Formulation | None, formulation: Formulation | None,
                     result: SolveResult | None, round_number: int) -> bool:
    """A repair that returns the infeasible model unchanged: the LLM holds that the model
    states the problem faithfully (the problem has no solution), so it is the answer."""
    return (round_number > 0 and previous is not None and formulation is not None
            and result is not None and result.termination is Termination.infeasible
            and formulation.to_dict() == previous.to_dict())


def _check_and_solve(track: Track, formulation: Formulation, attempt: Attempt,
                     options: PipelineOptions) -> list[str]:
    outcome = check_and_solve(formulation, options.solver, options.time_limit)
    attempt.stage = outcome.stage
    attempt.warnings = outcome.warnings
    attempt.check_seconds = outcome.check_seconds
    attempt.solve_seconds = outcome.solve_seconds
    result = outcome.result
    if result is not None:
        track.result = result
        attempt.termination = result.termination.value
        attempt.objective = result.objective
        if result.termination is Termination.optimal:
            track.best = (formulation, result)
    return outcome.problems


def _conclude(report: Report, tracks: list[Track], options: PipelineOptions) -> Report:
    report.attempts = [a for t in tracks for a in t.attempts]
    outcomes = [sample_outcome(t) for t in tracks]
    chosen, method, classes = choose_answer(tracks, outcomes, options)
    if len(tracks) > 1:
        report.vote_method, report.vote_classes = method, classes
    report.samples = outcomes
    if len(tracks) > 1 and chosen is not None:
        report.agreement = outcomes[chosen.sample].votes / len(tracks)
    if chosen is None or chosen.formulation is None:
        last = tracks[0].attempts[-1] if tracks and tracks[0].attempts else None
        report.error = ("no usable formulation after all rounds"
                        + (f"; last problems: {' | '.join(last.problems)}" if last else ""))
        return report
    formulation, result = chosen.best or (chosen.formulation, chosen.result)
    report.formulation = formulation
    report.result = result
    if result is not None:
        report.explanation = explain(formulation, result)
    report.code = generate_code(formulation)
    if chosen.feedback:
        report.error = "unresolved after all rounds: " + " | ".join(chosen.feedback)
    if options.alternatives and chosen.alternatives:
        report.alternatives = solve_alternatives(
            formulation, chosen.alternatives, result.termination.value if result else None,
            result.objective if result else None, options.solver, options.time_limit)
    return report


def sample_outcome(track: Track) -> SampleOutcome:
    formulation_result = track.best or (track.formulation, track.result)
    result = formulation_result[1]
    return SampleOutcome(sample=track.sample,
                         termination=result.termination.value if result else None,
                         objective=result.objective if result else None, issues=track.issues)


def choose_answer(tracks: list[Track], outcomes: list[SampleOutcome], options: PipelineOptions
                  ) -> tuple[Track | None, str, list[VoteClass]]:
    """(the track whose answer is given, the vote's method, its classes): the only track,
    or the vote's choice by equivalence or by objective value (`options.vote`)."""
    if len(tracks) > 1 and options.vote == "equivalence":
        formulations = [(t.best or (t.formulation, t.result))[0] for t in tracks]
        classes = equivalence_classes(outcomes, formulations, options.vote_budget)
        return vote_by_classes(tracks, outcomes, classes), "equivalence", classes
    return vote(tracks, outcomes), "objective", objective_classes(outcomes)


def vote_by_classes(tracks: list[Track], outcomes: list[SampleOutcome],
                    classes: list[VoteClass]) -> Track | None:
    """The largest class (votes = class sizes); within it, the answer most of its members
    give (equivalent models may differ in scale), ties to the fewest issues."""
    size = {sample: group.size for group in classes for sample in group.samples}
    for outcome in outcomes:
        outcome.votes = size.get(outcome.sample, 0)
    group = choose_class(classes, outcomes)
    if group is None:
        return tracks[0] if tracks else None
    members = [o for o in outcomes if o.sample in group.samples]
    keys = {o.sample: vote_key(o) for o in members}
    same = {o.sample: sum(same_answer(keys[o.sample], keys[m.sample]) for m in members)
            for o in members}
    best = max(members, key=lambda o: (same[o.sample], -o.issues, -o.sample))
    return tracks[best.sample]


def vote(tracks: list[Track], outcomes: list[SampleOutcome]) -> Track | None:
    """Majority of objective values (relative 1e-6); ties broken by fewest issues."""
    keys = [vote_key(o) for o in outcomes]
    for outcome, key in zip(outcomes, keys):
        outcome.votes = sum(1 for other in keys if other is not None and same_answer(key, other))
    candidates = [o for o, k in zip(outcomes, keys) if k is not None]
    if not candidates:
        return tracks[0] if tracks else None
    best = max(candidates, key=lambda o: (o.votes, -o.issues, -o.sample))
    return tracks[best.sample]


# -- the semantic review -------------------------------------------------------------

def review_round(problem: str, tracks: list[Track], llm: LLMBackend, options: PipelineOptions,
                 round_number: int, note: Progress | None = None, facts: bool = True) -> None:
    """Review every track that has just solved cleanly (once each): fact coverage first
    (unless `facts` is False), then the LLM. Findings become the track's feedback for the
    next repair round."""
    if not options.reviewing:
        return
    due = [t for t in tracks if t.done and wants_review(t.result, t.reviewed, round_number,
                                                        options.rounds)]
    asks = [(t, record) for t in due
            if (record := start_review(problem, t, round_number, facts))]
    if not asks:
        return
    if note is not None:
        note(f"Reviewing the model against the problem ({len(asks)} sample(s))")
    requests = [review_request(problem, t.formulation, t.result, structured=options.structured)
                for t, _ in asks]
    started = time.perf_counter()
    try:
        replies = llm.generate(requests)
    except LLMError as error:  # the review is advice: the answer stands without it
        if type(error).__name__ == "BatchPending":
            raise  # a batch run stops here and resumes once the answers are in
        for _, record in asks:
            record.error = f"the review request failed: {error}"
        return
    seconds = (time.perf_counter() - started) / len(requests)
    for (track, record), request, reply in zip(asks, requests, replies):
        finish_review(track, record, request, reply[0], seconds)


def start_review(problem: str, track: Track, round_number: int,
                 facts: bool = True) -> ReviewRecord | None:
    """The coverage half of a track's review; returns the record still to send to the LLM,
    or None when coverage found something to repair first."""
    result = track.result
    if track.prereview is None:
        track.prereview = sample_outcome(track)
    if facts and not track.covered:
        track.covered = True
        record = coverage_review(problem, track.formulation, result, round_number)
        track.attempts[-1].review = record
        if record.feedback:
            track.feedback = list(record.feedback)
            return None
    else:
        record = ReviewRecord(round=round_number, termination=result.termination.value,
                              objective=result.objective)
        track.attempts[-1].review = record
    track.reviewed = True
    return record


def finish_review(track: Track, record: ReviewRecord, request: LLMRequest,
                  response: LLMResponse, seconds: float) -> None:
    read_review(record, request, response, seconds)
    if record.feedback:
        track.feedback = list(record.feedback)


def generate_code(formulation: Formulation) -> str:
    """The readable Pyomo script for a formulation, or a comment saying why there is none."""
    try:
        from nl2opt.solvers.pyomo_code import emit_pyomo_script

        return emit_pyomo_script(formulation)
    except (ImportError, Nl2OptError) as error:
        return "".join(f"# {line}\n" for line in
                       f"Pyomo code could not be generated: {error}".splitlines())
    except Exception as error:  # noqa: BLE001 - the answer stands without its code
        return (f"# Pyomo code could not be generated: unexpected {type(error).__name__} "
                f"({' '.join(str(error).split())[:200]})\n")
