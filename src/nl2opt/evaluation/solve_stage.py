"""The solve stage of an evaluation: validate, compile, solve and check formulations.

`check_and_solve` is a pure function of picklable data (a `SolveJob` in, a
`SolveOutcome` out) doing exactly what the copilot loop does after an LLM
answer is read (`nl2opt.pipeline.stages.check_and_solve`). `SolvePool` runs
jobs in worker processes with a memory limit per worker (RLIMIT_AS) and a
wall-clock limit per job; a job that overruns or crashes its worker becomes a
`timeout` or `solver_error` outcome and the pool is rebuilt, so one bad model
never stops a run.
"""

from __future__ import annotations

import multiprocessing
import os
import resource
import threading
import time
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass

from nl2opt.formulation.model import Formulation
from nl2opt.pipeline.stages import SolveOutcome, unexpected_feedback
from nl2opt.pipeline.stages import check_and_solve as check_and_solve_formulation
from nl2opt.solvers.result import SolveResult, Termination

# Beyond the solver's own time limit, a job may take this long (compiling, the
# infeasibility diagnosis) before the watchdog gives up on it.
GRACE_SECONDS = 30.0


@dataclass(frozen=True)
class SolveJob:
    id: int
    formulation: dict
    solver: str | None = None
    time_limit: float | None = None
    data_dir: str | None = None  # where relative CSV paths resolve (the dataset's folder)


def check_and_solve(job: SolveJob) -> SolveOutcome:
    """Validate, classify, solve and check one formulation (the loop's feedback included)."""
    cpu_started = time.process_time()
    formulation = Formulation.model_validate(job.formulation)
    if job.data_dir:
        formulation = formulation.with_data_dir(job.data_dir)
    try:
        outcome = check_and_solve_formulation(formulation, job.solver, job.time_limit)
    except MemoryError:  # numpy raises it while building arrays too large for the limit
        outcome = SolveOutcome(stage="solve", failure="solver_error", problems=[
            "Solving failed: the model needs more memory than the solve worker may use. "
            "Make the model smaller (fewer index combinations)."])
    except Exception as error:  # noqa: BLE001 - in-process (--workers 0): this item alone
        outcome = SolveOutcome(stage="solve", failure="solver_error",
                               problems=[unexpected_feedback("solve", error)])
    outcome.cpu_seconds = time.process_time() - cpu_started
    return outcome


# Imported once by the fork server, so every worker (and every replacement after a
# crash) starts with them: Pyomo, SCIP and CP-SAT otherwise cost each worker seconds on
# its first nonlinear or CP-SAT item.
PRELOAD = ["nl2opt.evaluation.solve_stage", "nl2opt.solvers.solve",
           "nl2opt.solvers.highs_direct", "nl2opt.solvers.pyomo_backend",
           "nl2opt.solvers.scip_run", "nl2opt.solvers.cpsat"]

_started_queue = None  # in a worker: where it announces the job it starts


def init_worker(memory_mb: int | None, parent_pid: int, started_queue=None) -> None:
    """Worker initializer: cap the address space so a huge model fails alone, and exit
    when the evaluation process is gone (after kill -9 nothing else would stop us)."""
    global _started_queue
    _started_queue = started_queue
    if memory_mb:
        limit = memory_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    threading.Thread(target=_exit_with_parent, args=(parent_pid,), daemon=True).start()


def run_job(job: SolveJob) -> SolveOutcome:
    """`check_and_solve` in a worker, announcing the start so the watchdog times the job
    itself, not its wait in the queue."""
    if _started_queue is not None:
        _started_queue.put(job.id)
    return check_and_solve(job)


def _exit_with_parent(parent_pid: int) -> None:
    while True:
        time.sleep(1.0)
        try:
            os.kill(parent_pid, 0)
        except ProcessLookupError:
            os._exit(1)
        except PermissionError:
            pass  # the pid exists (owned by someone else): keep going


def lost_outcome(failure: str, message: str, seconds: float = 0.0) -> SolveOutcome:
    """The outcome of a job the pool could not finish: overran ("timeout") or crashed."""
    if failure == "timeout":
        # Like a solver time limit without a solution: an answer of its own, not a repair.
        return SolveOutcome(stage="check", failure=failure, solve_seconds=seconds,
                            result=SolveResult(termination=Termination.time_limit,
                                               message=message))
    return SolveOutcome(stage="solve", failure=failure, problems=[message],
                        solve_seconds=seconds)


class SolvePool:
    """Runs `check_and_solve` on many jobs; workers=0 runs them in this process."""

    def __init__(self, workers: int, memory_mb: int | None = None,
                 time_limit: float | None = None, grace_seconds: float = GRACE_SECONDS
                 ) -> None:
        self.workers = max(0, workers)
        self.memory_mb = memory_mb
        self.wall_limit = (time_limit or 0.0) * 2 + grace_seconds
        self._pool: ProcessPoolExecutor | None = None
        self._started = None

    def run(self, jobs: list[SolveJob]) -> list[SolveOutcome]:
        """One outcome per job, in order."""
        if self.workers == 0:
            return [check_and_solve(job) for job in jobs]
        outcomes: dict[int, SolveOutcome] = {}
        queue, suspects = list(jobs), []
        while queue or suspects:
            # After a crash the culprit is unknown: rerun the affected jobs one by one.
            batch, queue = (queue, []) if queue else ([suspects.pop(0)], queue)
            retry, crashed = self._run_batch(batch, outcomes)
            queue += retry
            if len(batch) == 1 and crashed:
                outcomes[batch[0].id] = lost_outcome(
                    "solver_error", "Solving failed: the solver process crashed "
                    f"(memory limit {self.memory_mb} MB?). Make the model smaller.")
            else:
                suspects += crashed
        return [outcomes[job.id] for job in jobs]

    def _run_batch(self, batch: list[SolveJob], outcomes: dict[int, SolveOutcome]
                   ) -> tuple[list[SolveJob], list[SolveJob]]:
        """Run a batch; returns (jobs to run again, jobs lost to a crashed worker)."""
        pool = self._ensure_pool()
        futures: dict[Future, SolveJob] = {pool.submit(run_job, job): job for job in batch}
        started: dict[int, float] = {}
        pending, crashed = set(futures), []
        while pending:
            done, pending = wait(pending, timeout=0.1, return_when=FIRST_COMPLETED)
            for future in done:
                job = futures[future]
                try:
                    outcomes[job.id] = future.result()
                except BrokenProcessPool:
                    crashed.append(job)
                except Exception as error:  # noqa: BLE001 - anything else is this job's own
                    outcomes[job.id] = lost_outcome("solver_error", f"Solving failed: {error!r}")
            now = time.monotonic()
            while self._started is not None and not self._started.empty():
                started[self._started.get()] = now
            overdue = [f for f in pending
                       if now - started.get(futures[f].id, now) > self.wall_limit]
            if overdue:
                for future in overdue:
                    outcomes[futures[future].id] = lost_outcome(
                        "timeout", f"Solving took longer than {self.wall_limit:.0f} s and "
                        "was stopped.", self.wall_limit)
                self._kill_pool()
                return [futures[f] for f in pending if f not in overdue], crashed
        if crashed:
            self._kill_pool()
        return [], crashed

    def _ensure_pool(self) -> ProcessPoolExecutor:
        if self._pool is None:
            # forkserver: workers never inherit the parent's threads (LLM clients, progress).
            context = multiprocessing.get_context("forkserver")
            context.set_forkserver_preload(PRELOAD)
            self._started = context.SimpleQueue()  # a fresh one: a killed worker may hold
            self._pool = ProcessPoolExecutor(     # the old one's lock
                max_workers=self.workers, mp_context=context, initializer=init_worker,
                initargs=(self.memory_mb, os.getpid(), self._started))
        return self._pool

    def _kill_pool(self) -> None:
        pool, self._pool = self._pool, None
        if pool is None:
            return
        # The executor cannot stop a running job: end its own worker processes.
        for process in list(getattr(pool, "_processes", {}).values()):
            process.kill()
        pool.shutdown(wait=True, cancel_futures=True)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def __enter__(self) -> SolvePool:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
