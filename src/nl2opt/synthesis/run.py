"""A whole synthesis run: instances, texts, forward modelling, verification, records.

`synthesize(out, settings, llm)` generates the instances (LLM-free, resumable),
then turns every labelled instance not yet decided into a text/formulation pair,
chunk by chunk: text waves (write, critique, refine), forward modelling with the
evaluation runner's stages, verification in worker processes, and one line in
problems.jsonl (accepted) or rejected.jsonl (with the reason). Accepted pairs
spawn the requested augmentations, which go through the same steps. With a
`batch:` LLM the run writes every request it can, finishes what is answered and
raises `SynthPending`; run it again after the batch is answered.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path

import nl2opt
from nl2opt.evaluation.runner import Problem
from nl2opt.evaluation.solve_cache import Solver
from nl2opt.evaluation.solve_stage import SolvePool
from nl2opt.llm.types import LLMBackend
from nl2opt.pipeline.run import PipelineOptions
from nl2opt.synthesis.augment import kinds_for
from nl2opt.synthesis.families import get_family
from nl2opt.synthesis.forward import Recovered, forward_model
from nl2opt.synthesis.generate import RunSettings, generate_instances
from nl2opt.synthesis.llm_calls import CACHE_FILE, AnswerCache, SynthPending
from nl2opt.synthesis.llm_settings import llm_proposer
from nl2opt.synthesis.pairs import PairState, advance_texts, augmented, from_instance
from nl2opt.synthesis.records import (
    PROBLEMS_FILE,
    REJECTED_FILE,
    JsonlLog,
    ProblemRecord,
    read_records,
)
from nl2opt.synthesis.verify import VerifyJob, verify_pair
from nl2opt.synthesis.workers import in_processes

DEFAULT_STYLES = ["story", "table", "spec"]


@dataclass
class RunHooks:
    """Progress callbacks (all optional)."""

    on_instance: Callable | None = None
    on_start: Callable[[int, int], None] | None = None
    on_pairs: Callable[[int, int], None] | None = None
    on_record: Callable[[ProblemRecord], None] | None = None
    on_tuned: Callable | None = None


@dataclass
class Context:
    out: Path
    settings: RunSettings
    cache: AnswerCache
    llm_name: str
    options: PipelineOptions
    workers: int
    hooks: RunHooks
    map_items: Callable = in_processes
    waiting: list[str] = field(default_factory=list)


def synthesize(out: str | Path, settings: RunSettings, llm: LLMBackend, *, llm_name: str = "",
               resume: bool = False, workers: int = 1, batch_size: int = 64,
               forward_rounds: int = 3, hooks: RunHooks | None = None,
               solve_pool: Solver | None = None, map_items: Callable | None = None
               ) -> list[ProblemRecord]:
    """Run (or resume) a synthesis; returns the accepted records. Raises SynthPending when
    an offline batch must answer requests first (everything else is already written).

    `solve_pool` (forward modelling's solve stage; default a local `SolvePool`) and
    `map_items` (instances and verification; default worker processes) let the work run
    elsewhere, e.g. as Ray tasks (`nl2opt.cluster`)."""
    out, hooks, map_items = Path(out), hooks or RunHooks(), map_items or in_processes
    cache = AnswerCache(llm, out / CACHE_FILE)
    proposer = llm_proposer(cache) if settings.llm_settings else None
    instances = generate_instances(out, settings, resume=resume, workers=workers,
                                   proposer=proposer, on_start=hooks.on_start,
                                   on_instance=hooks.on_instance, on_tuned=hooks.on_tuned,
                                   map_items=map_items)
    # Forward modelling is the formulate-solve-repair loop only: no semantic review and
    # no interpretation alternatives (the checker compares with the source instead).
    options = PipelineOptions(rounds=forward_rounds, time_limit=settings.solve_seconds[1],
                              data_dir=str(out.resolve()), review=False, alternatives=False)
    context = Context(out, settings, cache, llm_name or f"{llm.name}:{llm.model}", options,
                      workers, hooks, map_items)
    styles = settings.styles or DEFAULT_STYLES
    decided = _decided(out)
    states = [from_instance(r, styles) for r in instances
              if r.answer_status != "unlabeled" and r.uid not in decided]
    states += _augmentations(context, read_records(out / PROBLEMS_FILE, ProblemRecord), decided)
    if hooks.on_pairs is not None:
        hooks.on_pairs(len(decided), len(states))
    # Like the other workers: 0 or 1 means this process.
    pool_context = (SolvePool(workers if workers > 1 else 0, None, settings.solve_seconds[1])
                    if solve_pool is None else nullcontext(solve_pool))
    with pool_context as pool:
        while states:
            accepted = []
            for start in range(0, len(states), batch_size):
                accepted += _run_chunk(context, states[start:start + batch_size], pool)
            states = _augmentations(context, accepted, _decided(out))
    if context.waiting:
        raise SynthPending(cache.pending, len(context.waiting))
    return read_records(out / PROBLEMS_FILE, ProblemRecord)


def _decided(out: Path) -> set[str]:
    return {r.uid for name in (PROBLEMS_FILE, REJECTED_FILE)
            for r in read_records(out / name, ProblemRecord)}


def _augmentations(context: Context, parents: list[ProblemRecord], decided: set[str]
                   ) -> list[PairState]:
    states = []
    for parent in parents:
        if parent.augmentation is not None:
            continue
        for kind in kinds_for(context.settings.augment, bool(parent.data_files)):
            if f"{parent.uid}~{kind}" not in decided:
                states.append(augmented(parent, kind, str(context.out.resolve()),
                                        context.settings.solve_seconds[1]))
    return states


def _run_chunk(context: Context, states: list[PairState], pool: Solver
               ) -> list[ProblemRecord]:
    """Texts, forward modelling and verification for one chunk; returns the accepted."""
    advance_texts(states, context.cache, context.settings.critique_rounds, context.out,
                  context.settings.solve_seconds[1])
    ready = [s for s in states if s.next == "forward" and not s.waiting]
    recovered, waiting = forward_model([Problem(s.uid, s.text or "") for s in ready],
                                       context.cache, context.options, pool)
    context.waiting += [s.uid for s in states if s.waiting] + sorted(waiting)
    jobs = {s.uid: _verify_job(context, s, recovered[s.uid]) for s in ready
            if s.uid in recovered}
    by_uid = {s.uid: s for s in states}
    accepted = []
    with JsonlLog(context.out / PROBLEMS_FILE) as good, \
            JsonlLog(context.out / REJECTED_FILE) as bad:
        for state in (s for s in states if s.failure is not None):
            _write(context, bad, _record(context, state, state.failure, None))
        for job, acceptance in context.map_items(verify_pair, list(jobs.values()),
                                                 context.workers):
            state = by_uid[job.uid]
            record = _record(context, state, acceptance, recovered[job.uid])
            _write(context, good if acceptance.accepted else bad, record)
            if acceptance.accepted:
                accepted.append(record)
    return accepted


def _verify_job(context: Context, state: PairState, recovered: Recovered) -> VerifyJob:
    return VerifyJob(state.uid, state.formulation, recovered.formulation,
                     str(context.out.resolve()), state.label["answer_status"],
                     state.label["answer"], recovered.status, recovered.objective,
                     recovered.failure, context.settings.solve_seconds[1])


def _record(context: Context, state: PairState, acceptance, recovered: Recovered | None
            ) -> ProblemRecord:
    prompts = state.prompts | set(recovered.prompts if recovered else [])
    return ProblemRecord(
        uid=state.uid, question=state.text or "", formulation=state.formulation,
        data_files=state.data_files, answer=state.label["answer"],
        answer_status=state.label["answer_status"],
        problem_class=state.label["problem_class"], family=state.family,
        domain=get_family(state.family).domain,
        complexity=state.label["complexity"], generator=state.generator,
        style=state.style.as_dict(), acceptance=acceptance,
        critique_rounds=len(state.critiques), llm=context.llm_name, prompts=sorted(prompts),
        augmentation=state.augmentation,
        recovered=None if acceptance.accepted or recovered is None else recovered.formulation,
        nl2opt_version=nl2opt.__version__)


def _write(context: Context, log: JsonlLog, record: ProblemRecord) -> None:
    log.append(record)
    if context.hooks.on_record is not None:
        context.hooks.on_record(record)
