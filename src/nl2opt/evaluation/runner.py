"""Batch evaluation: the copilot loop over many problems, in two stages per round.

1. LLM stage (`llm_stage`): one `generate()` call per round for every pending
   track of every problem in a chunk, so a batching backend (vLLM, an
   OpenAI-compatible server, the Batch API) sees all the work at once.
2. Solve stage (`solve_stage`): validate, compile, solve and check every answer
   of the round in a process pool (`SolvePool`), pure data in and out.

The feedback of round r becomes the repair prompts of round r + 1, exactly as
in `nl2opt.pipeline.run.solve_text` (same prompts, same checks, same voting).
The loop sees only `Problem(uid, question)`; labels are read afterwards, by
`build_record`, to score the finished answer. Every finished item is appended
to results.jsonl at once (fsync'd), so a killed run resumes where it stopped.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from nl2opt.datasets.types import Dataset, DatasetItem
from nl2opt.evaluation.records import (
    EvalRecord,
    EvaluationError,
    ResultsLog,
    RunConfig,
    RunInfo,
    SampleSummary,
    question_hash,
    read_results,
    read_run_info,
    write_run_info,
)
from nl2opt.evaluation.solve_stage import SolveJob, SolveOutcome, SolvePool
from nl2opt.formulation.model import Formulation
from nl2opt.llm.types import LLMBackend, LLMError, LLMRequest, LLMResponse
from nl2opt.pipeline.report import Attempt, SampleOutcome
from nl2opt.pipeline.run import (
    PipelineOptions,
    Track,
    formulation_request,
    repair_request,
    read_answer as read_track_answer,
    sample_outcome,
    vote,
)
from nl2opt.solvers.result import Termination

ANSWERED = ("optimal", "infeasible", "unbounded", "infeasible_or_unbounded")


@dataclass(frozen=True)
class Problem:
    """All the loop may see of a benchmark item."""

    uid: str
    question: str


@dataclass
class ItemState:
    """One problem's tracks (one per sample) and what the solve stage said about them."""

    problem: Problem
    tracks: list[Track] = field(default_factory=list)
    failure: dict[int, str | None] = field(default_factory=dict)  # sample -> last failure
    result_class: dict[int, str | None] = field(default_factory=dict)
    best_class: dict[int, str | None] = field(default_factory=dict)
    cpu_seconds: float = 0.0
    llm_error: str = ""
    finished: bool = False

    @property
    def settled(self) -> bool:
        return bool(self.llm_error) or (bool(self.tracks) and all(t.done for t in self.tracks))


@dataclass
class PendingAnswer:
    """An LLM answer read in the LLM stage, waiting for the solve stage."""

    state: ItemState
    track: Track
    attempt: Attempt
    formulation: Formulation | None
    problems: list[str]


# -- the LLM stage ---------------------------------------------------------------

def llm_stage(states: list[ItemState], llm: LLMBackend, options: PipelineOptions,
              round_number: int) -> list[PendingAnswer]:
    """Ask the LLM for every open track of every state in one batch; read the replies."""
    asks: list[tuple[ItemState, Track | None, LLMRequest]] = []
    for state in states:
        if round_number == 0:
            asks.append((state, None, formulation_request(state.problem.question, options,
                                                          n=options.samples)))
        else:
            asks.extend((state, track, repair_request(state.problem.question, track,
                                                      round_number, options))
                        for track in state.tracks if not track.done)
    answers, seconds = generate_isolated(llm, [request for _, _, request in asks])
    pending = []
    for (state, track, request), answer in zip(asks, answers):
        if isinstance(answer, LLMError):
            state.llm_error = str(answer)
            continue
        if track is None:
            state.tracks = [Track(sample=k) for k in range(len(answer))]
        for one_track, response in zip(state.tracks if track is None else [track], answer):
            pending.append(read_answer(state, one_track, response, request, round_number,
                                       seconds))
    return pending


def generate_isolated(llm: LLMBackend, requests: list[LLMRequest]
                      ) -> tuple[list[list[LLMResponse] | LLMError], float]:
    """All answers in one call; if that fails, one call per request so a single bad
    request fails alone. A retryable error that persists stops the run (resume later)."""
    if not requests:
        return [], 0.0
    started = time.perf_counter()
    try:
        answers: list = list(llm.generate(requests))
    except LLMError:
        answers = []
        for request in requests:
            try:
                answers.append(llm.generate([request])[0])
            except LLMError as error:
                if error.retryable:
                    raise
                answers.append(error)
    return answers, (time.perf_counter() - started) / len(requests)


def read_answer(state: ItemState, track: Track, response: LLMResponse, request: LLMRequest,
                round_number: int, llm_seconds: float) -> PendingAnswer:
    """The reply-reading half of the pipeline's loop (solving happens in the pool)."""
    attempt, formulation, problems = read_track_answer(track, response, request, round_number,
                                                       llm_seconds)
    return PendingAnswer(state, track, attempt, formulation, problems)


# -- the solve stage ---------------------------------------------------------------

def solve_stage(pending: list[PendingAnswer], pool: SolvePool, options: PipelineOptions) -> None:
    """Solve every readable answer in the pool, then record feedback on its track."""
    solvable = [p for p in pending if p.formulation is not None]
    jobs = [SolveJob(id=k, formulation=p.attempt.formulation or {}, solver=options.solver,
                     time_limit=options.time_limit, data_dir=options.data_dir)
            for k, p in enumerate(solvable)]
    outcomes = dict(zip(map(id, solvable), pool.run(jobs)))
    for answer in pending:
        apply_outcome(answer, outcomes.get(id(answer)))


def apply_outcome(answer: PendingAnswer, outcome: SolveOutcome | None) -> None:
    """The checking half of the pipeline's `_advance`: update the attempt and the track."""
    state, track, attempt = answer.state, answer.track, answer.attempt
    problems = list(answer.problems)
    if outcome is None:
        state.failure[track.sample] = "no_parse"
    else:
        state.failure[track.sample] = outcome.failure
        state.cpu_seconds += outcome.cpu_seconds
        attempt.stage, attempt.warnings = outcome.stage, outcome.warnings
        attempt.check_seconds, attempt.solve_seconds = (outcome.check_seconds,
                                                        outcome.solve_seconds)
        result = outcome.result
        if result is not None:
            track.result = result
            state.result_class[track.sample] = outcome.problem_class
            attempt.termination, attempt.objective = result.termination.value, result.objective
            if result.termination is Termination.optimal and answer.formulation is not None:
                track.best = (answer.formulation, result)
                state.best_class[track.sample] = outcome.problem_class
        problems += outcome.problems
    attempt.problems = problems
    track.feedback = problems
    if not problems:
        attempt.stage = "done"
    track.attempts.append(attempt)


# -- rounds ------------------------------------------------------------------------

def evaluate_problems(problems: list[Problem], llm: LLMBackend, options: PipelineOptions,
                      pool: SolvePool, on_finished: Callable[[ItemState], None]) -> None:
    """Run the rounds for a chunk of problems; `on_finished` gets each item once settled."""
    states = [ItemState(problem) for problem in problems]
    for round_number in range(options.rounds + 1):
        open_states = [s for s in states if not s.finished]
        if not open_states:
            break
        solve_stage(llm_stage(open_states, llm, options, round_number), pool, options)
        for state in open_states:
            if state.settled or round_number == options.rounds:
                state.finished = True
                on_finished(state)


# -- records -----------------------------------------------------------------------

@dataclass(frozen=True)
class RecordContext:
    llm: str
    dataset_version: str
    dataset_file_hash: str
    nl2opt_version: str


def build_record(state: ItemState, item: DatasetItem, context: RecordContext) -> EvalRecord:
    """Score a finished item against its label and collect everything a report needs."""
    from nl2opt.evaluation.scoring import score

    tracks = state.tracks
    outcomes = [sample_outcome(track) for track in tracks]
    chosen = vote(tracks, outcomes) if tracks else None
    final = outcomes[chosen.sample] if chosen is not None else None
    status, objective = (final.termination, final.objective) if final else (None, None)
    first = first_answer(tracks)
    scored = score(status, objective, item)
    first_score = score(first.termination, first.objective, item) if first else None
    attempts = [a for track in tracks for a in track.attempts]
    sample = chosen.sample if chosen is not None else 0
    last_problems = chosen.attempts[-1].problems if chosen and chosen.attempts else []
    return EvalRecord(
        uid=item.uid, dataset=item.dataset, subset=item.subset,
        question_sha256=question_hash(item.question), status=status, objective=objective,
        problem_class=(state.best_class if chosen and chosen.best else
                       state.result_class).get(sample),
        expected_status=item.answer_status, expected_answer=item.answer,
        correct=scored.correct, scored=scored.scored, relative_error=scored.relative_error,
        conventions=dict(scored.conventions),
        category=failure_category(status, scored.scored, scored.correct,
                                  state.failure.get(sample), state.llm_error),
        error=(state.llm_error or " | ".join(last_problems))[:2000],
        attempts=len(attempts), rounds_used=max((a.round for a in attempts), default=0),
        first_status=first.termination if first else None,
        first_objective=first.objective if first else None,
        first_correct=bool(first_score and first_score.correct),
        samples=[SampleSummary(termination=o.termination, objective=o.objective)
                 for o in outcomes],
        agreement=(final.votes / len(tracks)) if final and len(tracks) > 1 else None,
        prompt_tokens=sum(a.prompt_tokens for a in attempts),
        completion_tokens=sum(a.completion_tokens for a in attempts),
        llm_seconds=sum(a.llm_seconds for a in attempts),
        check_seconds=sum(a.check_seconds for a in attempts),
        solve_seconds=sum(a.solve_seconds for a in attempts), cpu_seconds=state.cpu_seconds,
        llm=context.llm, prompts=sorted({f"{a.prompt_id}@{a.prompt_hash}" for a in attempts}),
        dataset_version=context.dataset_version, dataset_file_hash=context.dataset_file_hash,
        nl2opt_version=context.nl2opt_version, finished_at=_now())


def first_answer(tracks: list[Track]) -> SampleOutcome | None:
    """The answer round 0 alone would have given (the same vote over first attempts)."""
    firsts = [SampleOutcome(sample=t.sample, termination=t.attempts[0].termination,
                            objective=t.attempts[0].objective,
                            issues=len(t.attempts[0].problems) + t.attempts[0].warnings)
              for t in tracks if t.attempts]
    if len(firsts) != len(tracks) or not tracks:
        return None
    chosen = vote(tracks, firsts)
    return firsts[chosen.sample] if chosen is not None else None


def failure_category(status: str | None, scored: bool, correct: bool,
                     stage_failure: str | None, llm_error: str = "") -> str:
    """One of records.FAILURE_CATEGORIES for a finished item."""
    if status is None:
        return stage_failure or ("llm_error" if llm_error else "no_parse")
    if correct:
        return "correct"
    if not scored and status in ANSWERED:
        return "unscored"
    if status in ("infeasible", "infeasible_or_unbounded"):
        return "infeasible"
    if status == "unbounded":
        return "unbounded"
    if status in ("time_limit", "interrupted"):
        return "timeout"
    if status != "optimal":
        return "solver_error"
    return "wrong_objective"


# -- a run -------------------------------------------------------------------------

def run_evaluation(dataset: Dataset, llm: LLMBackend, config: RunConfig, out_dir: str | Path,
                   resume: bool = False, on_record: Callable[[EvalRecord], None] | None = None,
                   on_start: Callable[[list[EvalRecord], int], None] | None = None
                   ) -> list[EvalRecord]:
    """Evaluate `dataset` into `out_dir` (run.json + results.jsonl); returns all records.

    With `resume`, items already in results.jsonl are skipped. `on_start(done, todo)`
    and `on_record(record)` feed a progress display.
    """
    import nl2opt

    out = Path(out_dir)
    _check_unique(dataset.items)
    info = prepare_run_dir(out, dataset, config, resume)
    done = read_results(out)
    finished = {record.uid for record in done}
    todo = [item for item in dataset.items if item.uid not in finished]
    if on_start is not None:
        on_start(done, len(todo))
    context = RecordContext(config.llm, dataset.version, dataset.file_hash, nl2opt.__version__)
    # Relative CSV paths in answers resolve against the dataset's folder (synthetic
    # benchmarks keep large tables in CSV files next to problems.jsonl).
    folder = str(Path(dataset.path.split(" + ")[0]).resolve().parent)
    options = PipelineOptions(rounds=config.rounds, samples=config.samples,
                              solver=config.solver, time_limit=config.time_limit,
                              data_dir=folder)
    with ResultsLog(out) as log, SolvePool(config.workers, config.memory_mb,
                                           config.time_limit) as pool:
        for chunk in _chunks(todo, max(1, config.batch_size)):
            items = {item.uid: item for item in chunk}

            def finish(state: ItemState, items: dict[str, DatasetItem] = items) -> None:
                record = build_record(state, items[state.problem.uid], context)
                log.append(record)
                if on_record is not None:
                    on_record(record)

            evaluate_problems([Problem(i.uid, i.question) for i in chunk], llm, options,
                              pool, finish)
    info.finished_at = _now()
    write_run_info(out, info)
    return read_results(out)


def prepare_run_dir(out: Path, dataset: Dataset, config: RunConfig, resume: bool) -> RunInfo:
    """Create or reopen a run directory; refuse to mix configurations or clobber results."""
    import nl2opt

    existing = (out / "run.json").exists()
    has_results = (out / "results.jsonl").exists() and (out / "results.jsonl").stat().st_size
    if has_results and not resume:
        raise EvaluationError(f"{out} already holds results. Pass --resume to continue that "
                              "run, or choose another --out directory.")
    if resume and existing:
        info = read_run_info(out)
        _check_resumable(info, dataset, config)
        info.resumed_at.append(_now())
        info.finished_at = None
    else:
        info = RunInfo(config=config, dataset_name=dataset.name,
                       dataset_version=dataset.version, dataset_file_hash=dataset.file_hash,
                       items=len(dataset.items), nl2opt_version=nl2opt.__version__,
                       started_at=_now())
    out.mkdir(parents=True, exist_ok=True)
    write_run_info(out, info)
    return info


def _check_resumable(info: RunInfo, dataset: Dataset, config: RunConfig) -> None:
    before, now = info.config.resume_key(), config.resume_key()
    changed = [f"{name}: {before[name]!r} -> {now[name]!r}" for name in before
               if before[name] != now[name]]
    if info.dataset_file_hash != dataset.file_hash:
        changed.append(f"dataset file hash: {info.dataset_file_hash[:12]} -> "
                       f"{dataset.file_hash[:12]}")
    if changed:
        raise EvaluationError("cannot resume: the run was started with other settings ("
                              + "; ".join(changed) + "). Use the original settings or a new "
                              "--out directory.")


def _check_unique(items: list[DatasetItem]) -> None:
    seen: set[str] = set()
    for item in items:
        if item.uid in seen:
            raise EvaluationError(f"dataset item uid {item.uid!r} occurs twice; uids must be "
                                  "unique for results and resuming to be unambiguous.")
        seen.add(item.uid)


def _chunks(items: list, size: int) -> Iterator[list]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")
