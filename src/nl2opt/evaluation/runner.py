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

With a batch backend (`batch:`), a request without an answer yet leaves its
item waiting: no record, its next request queued, the other items going on as
far as their answers reach. The run then ends with `EvaluationPending`; after
the batch runs, `--resume` replays the waiting items (answers from the batch
files, solve outcomes from `SolveCache`) and takes each at least one round on.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path

from nl2opt.datasets.types import Dataset, DatasetItem
from nl2opt.evaluation.item_record import RecordContext, build_record
from nl2opt.evaluation.records import (
    EvalRecord,
    EvaluationError,
    EvaluationPending,
    ResultsLog,
    RunConfig,
    read_results,
    write_run_info,
)
from nl2opt.evaluation.run_dir import now, prepare_run_dir, run_lock
from nl2opt.evaluation.semantic import Decision, alternatives_stage, review_stage
from nl2opt.evaluation.solve_cache import SolveCache, Solver, solve_key
from nl2opt.evaluation.solve_stage import SolveJob, SolveOutcome, SolvePool
from nl2opt.formulation.model import Formulation
from nl2opt.llm.batch import BatchPending
from nl2opt.llm.types import LLMBackend, LLMError, LLMRequest, LLMResponse
from nl2opt.pipeline.alternatives import AlternativeOutcome
from nl2opt.pipeline.insights import InsightProvider, PromptInsight, retrieve_all
from nl2opt.pipeline.report import Attempt
from nl2opt.pipeline.run import PipelineOptions, Track, formulation_request, repair_request
from nl2opt.pipeline.run import read_answer as read_track_answer
from nl2opt.solvers.result import Termination


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
    # Requests a batch backend has not answered yet, by None for the first formulation
    # request, else the sample whose repair waits. The item stays open (no record).
    waiting: dict[int | None, LLMRequest] = field(default_factory=dict)
    batch_notice: BatchPending | None = None
    solve_keys: list[str] = field(default_factory=list)  # its solve jobs, for SolveCache
    insights: Sequence[PromptInsight] = ()  # shown to its first request, again in repairs
    decision: Decision | None = None  # the vote, made once the item finished
    alternatives: list[AlternativeOutcome] = field(default_factory=list)  # of the answer

    @property
    def settled(self) -> bool:
        return bool(self.llm_error) or (bool(self.tracks) and all(t.done for t in self.tracks))

    @property
    def open_tracks(self) -> list[Track]:
        """Tracks that need another answer and are not waiting for one."""
        return [t for t in self.tracks if not t.done and t.sample not in self.waiting]


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
              round_number: int, insights: InsightProvider | None = None
              ) -> list[PendingAnswer]:
    """Ask the LLM for every open track of every state in one batch; read the replies.
    In round 0, `insights` (an experience library) is asked for all problems at once."""
    asks: list[tuple[ItemState, Track | None, LLMRequest]] = []
    if round_number == 0:
        found = _insights_for(states, insights, options)
        for state, shown in zip(states, found):
            if shown is not None:
                state.insights = shown
                asks.append((state, None, formulation_request(
                    state.problem.question, options, n=options.samples, insights=shown)))
    else:
        for state in states:
            asks.extend((state, track, repair_request(state.problem.question, track,
                                                      round_number, options))
                        for track in state.open_tracks)
    answers, seconds = generate_isolated(llm, [request for _, _, request in asks])
    pending = []
    for (state, track, request), answer in zip(asks, answers):
        if isinstance(answer, BatchPending):
            state.waiting[None if track is None else track.sample] = request
            state.batch_notice = answer
            continue
        if isinstance(answer, LLMError):
            state.llm_error = str(answer)
            continue
        if track is None:
            state.tracks = [Track(sample=k, insights=state.insights)
                            for k in range(len(answer))]
        for one_track, response in zip(state.tracks if track is None else [track], answer):
            pending.append(read_answer(state, one_track, response, request, round_number,
                                       seconds))
            pending[-1].attempt.review_enabled = options.reviewing
    return pending


def _insights_for(states: list[ItemState], insights: InsightProvider | None,
                  options: PipelineOptions) -> list[Sequence[PromptInsight] | None]:
    """Each state's insights for its first request; None where a batch backend still owes
    the retrieval's answers (the state then waits, like one waiting for its reply)."""
    if insights is None or not states:
        return [()] * len(states)
    try:
        return list(retrieve_all(insights, [state.problem.question for state in states]))
    except BatchPending as pending:
        for state in states:
            state.waiting[None] = formulation_request(state.problem.question, options,
                                                      n=options.samples)
            state.batch_notice = pending
        return [None] * len(states)


def generate_isolated(llm: LLMBackend, requests: list[LLMRequest]
                      ) -> tuple[list[list[LLMResponse] | LLMError], float]:
    """All answers in one call; if that fails, one call per request so a single bad
    request fails alone. A retryable error that persists stops the run (resume later).

    A request a batch backend has queued but not answered gets its `BatchPending`.
    """
    if not requests:
        return [], 0.0
    started = time.perf_counter()
    try:
        answers: list = list(llm.generate(requests))
    except BatchPending as pending:
        answers = ([pending if answer is None else answer for answer in pending.answers]
                   if pending.answers is not None and len(pending.answers) == len(requests)
                   else [_generate_one(llm, request) for request in requests])
    except LLMError:
        answers = [_generate_one(llm, request) for request in requests]
    return answers, (time.perf_counter() - started) / len(requests)


def _generate_one(llm: LLMBackend, request: LLMRequest) -> list[LLMResponse] | LLMError:
    try:
        return llm.generate([request])[0]
    except LLMError as error:
        if error.retryable:
            raise
        return error


def read_answer(state: ItemState, track: Track, response: LLMResponse, request: LLMRequest,
                round_number: int, llm_seconds: float) -> PendingAnswer:
    """The reply-reading half of the pipeline's loop (solving happens in the pool)."""
    attempt, formulation, problems = read_track_answer(track, response, request, round_number,
                                                       llm_seconds)
    return PendingAnswer(state, track, attempt, formulation, problems)


# -- the solve stage ---------------------------------------------------------------

def solve_stage(pending: list[PendingAnswer], solves: SolveCache,
                options: PipelineOptions) -> None:
    """Solve every readable answer (in the pool, or from the cache), then record feedback
    on its track."""
    solvable = [p for p in pending if p.formulation is not None]
    jobs = [SolveJob(id=k, formulation=p.attempt.formulation or {}, solver=options.solver,
                     time_limit=options.time_limit, data_dir=options.data_dir)
            for k, p in enumerate(solvable)]
    keys = [solve_key(job) for job in jobs]
    for answer, key in zip(solvable, keys):
        answer.state.solve_keys.append(key)
    outcomes = dict(zip(map(id, solvable), solves.run(jobs, keys)))
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
                      solves: SolveCache, on_finished: Callable[[ItemState], None],
                      insights: InsightProvider | None = None) -> list[ItemState]:
    """Run the rounds for a chunk of problems; `on_finished` gets each item once settled.
    `insights` (an experience library) supplies insights for the first requests.

    Returns the states; those still `waiting` for batch answers are not finished.
    """
    states = [ItemState(problem) for problem in problems]
    for round_number in range(options.rounds + 1):
        open_states = [s for s in states if not s.finished and None not in s.waiting]
        if not open_states:
            break
        solve_stage(llm_stage(open_states, llm, options, round_number, insights), solves,
                    options)
        review_stage(open_states, llm, options, round_number, generate_isolated)
        done = [s for s in open_states if (not s.waiting or s.llm_error)
                and (s.settled or round_number == options.rounds)]
        alternatives_stage(done, solves, options)
        for state in done:
            state.finished = True
            on_finished(state)
    return states


# -- a run -------------------------------------------------------------------------

def run_evaluation(dataset: Dataset, llm: LLMBackend, config: RunConfig, out_dir: str | Path,
                   resume: bool = False, on_record: Callable[[EvalRecord], None] | None = None,
                   on_start: Callable[[list[EvalRecord], int], None] | None = None,
                   insights: InsightProvider | None = None,
                   solve_pool: Solver | None = None) -> list[EvalRecord]:
    """Evaluate `dataset` into `out_dir` (run.json + results.jsonl); returns the records of
    the run's items.

    With `resume`, items already in results.jsonl are skipped. `on_start(done, todo)`
    and `on_record(record)` feed a progress display. `insights` is an experience
    library's retriever (config.library names its file). `solve_pool` runs the solve
    stage (e.g. `nl2opt.cluster.solve_pool.RaySolvePool`; the caller closes it); by
    default a local `SolvePool` of `config.workers` processes. Raises
    `EvaluationPending` (after writing every finished item) when a batch backend still
    owes answers, and EvaluationError when another process is running in `out_dir`.
    """
    out = Path(out_dir)
    _check_items(dataset.items)
    with run_lock(out):
        info = prepare_run_dir(out, dataset, config, resume)
        done = read_results(out)
        finished = {record.uid for record in done}
        todo = [item for item in dataset.items if item.uid not in finished]
        if on_start is not None:
            selected = {item.uid for item in dataset.items}
            on_start([record for record in done if record.uid in selected], len(todo))
        waiting = _evaluate_items(todo, dataset, llm, config, out, on_record, insights,
                                  solve_pool)
        info.finished_at = None if waiting else now()
        write_run_info(out, info)
        run_uids = set(info.uids)
        records = [r for r in read_results(out) if r.uid in run_uids]
    if waiting:
        raise _pending(waiting, records)
    return records


def _evaluate_items(todo: list[DatasetItem], dataset: Dataset, llm: LLMBackend,
                    config: RunConfig, out: Path,
                    on_record: Callable[[EvalRecord], None] | None,
                    insights: InsightProvider | None = None,
                    solve_pool: Solver | None = None) -> list[ItemState]:
    """Run the items in chunks; returns the states left waiting for batch answers."""
    import nl2opt

    context = RecordContext(config.llm, dataset.version, dataset.file_hash, nl2opt.__version__)
    options = PipelineOptions(rounds=config.rounds, samples=config.samples,
                              solver=config.solver, time_limit=config.time_limit,
                              review=config.review, vote=config.vote,
                              data_dir=dataset_data_root(dataset))
    waiting: list[ItemState] = []
    pool_context = (SolvePool(config.workers, config.memory_mb, config.time_limit)
                    if solve_pool is None else nullcontext(solve_pool))
    with ResultsLog(out) as log, pool_context as pool:
        solves = SolveCache(pool, out)
        for chunk in _chunks(todo, max(1, config.batch_size)):
            items = {item.uid: item for item in chunk}

            def finish(state: ItemState, items: dict[str, DatasetItem] = items) -> None:
                record = build_record(state, items[state.problem.uid], context)
                log.append(record)
                if on_record is not None:
                    on_record(record)

            states = evaluate_problems([Problem(i.uid, i.question) for i in chunk], llm,
                                       options, solves, finish, insights)
            chunk_waiting = [state for state in states if not state.finished]
            waiting += chunk_waiting
            solves.keep(key for state in chunk_waiting for key in state.solve_keys)
        solves.write()
    return waiting


def _pending(waiting: list[ItemState], records: list[EvalRecord]) -> EvaluationPending:
    notice = waiting[0].batch_notice
    requests = {request.key() for state in waiting for request in state.waiting.values()}
    return EvaluationPending(records=records, waiting_items=len(waiting),
                             waiting_requests=len(requests),
                             command=(notice.command or notice.hint) if notice else "",
                             requests_path=notice.requests_path if notice else None)


def _check_items(items: list[DatasetItem]) -> None:
    if not items:
        raise EvaluationError("no items to evaluate: the dataset selection is empty. Check "
                              "--limit and --ids, or the dataset file.")
    seen: set[str] = set()
    for item in items:
        if item.uid in seen:
            raise EvaluationError(f"dataset item uid {item.uid!r} occurs twice; uids must be "
                                  "unique for results and resuming to be unambiguous.")
        seen.add(item.uid)


def dataset_data_root(dataset: Dataset) -> str | None:
    """Where answers' relative CSV paths resolve: the dataset's folder when it keeps data
    files in a `data/` subfolder (synthetic benchmarks: problems.jsonl + data/<uid>/*.csv);
    otherwise none, so no file named by an LLM is ever read during an evaluation."""
    folder = Path(dataset.path.split(" + ")[0]).resolve().parent
    return str(folder) if (folder / "data").is_dir() else None


def _chunks(items: list, size: int) -> Iterator[list]:
    for start in range(0, len(items), size):
        yield items[start:start + size]
