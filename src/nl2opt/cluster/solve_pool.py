"""The solve stage as Ray tasks: `RaySolvePool.run(jobs)`, like `SolvePool.run`.

Each job is one task running `check_and_solve` (`num_cpus=1`, and `memory=` so
the scheduler reserves room for it on a node). Ray does not enforce that
reservation, so the task also caps its own address space (RLIMIT_AS, through
`nl2opt.formulation.limits.memory_cap`) for the length of the job, as the local
pool's workers do; a Ray worker maps the node's object store, so the cap is the
worker's current size plus the job's allowance rather than an absolute figure.

The driver keeps `slots` tasks running and as many queued behind them (so no
worker waits for the driver between jobs), and times a task from when it moves
into the first `slots` of those in flight, when a worker takes it up (Ray runs
a node's queue in order; across nodes the clock may start a little early, which
the generous wall limit absorbs). `ray.wait(timeout=)` returns finished tasks,
and an overdue task is stopped with `ray.cancel(force=True)` (which ends its
worker process) and becomes a `timeout` outcome. A task whose worker or node
dies is retried by Ray (`max_retries`, system failures only); an exception
raised by the job itself is never retried: it becomes a `solver_error` outcome,
as in the local pool.
"""

from __future__ import annotations

import itertools
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from nl2opt.cluster.session import MIB, ClusterError, import_ray
from nl2opt.evaluation.solve_stage import GRACE_SECONDS, SolveJob, check_and_solve, lost_outcome
from nl2opt.formulation.limits import memory_cap
from nl2opt.pipeline.stages import SolveOutcome

MAX_RETRIES = 3  # attempts after a lost worker or node, before the job counts as crashed
# Tasks queued in Ray beyond one per slot, per slot: a worker that finishes a job starts the
# next at once instead of idling while the driver hears of it and submits another.
PREFETCH = 1


def solve_with_memory_cap(job: SolveJob, memory_mb: int | None,
                          solve: Callable[[SolveJob], SolveOutcome] = check_and_solve
                          ) -> SolveOutcome:
    """`solve(job)` with the address space capped at its current size + `memory_mb` for
    the length of the job (so Ray's own threads are not held to it afterwards)."""
    if not memory_mb:
        return solve(job)
    with memory_cap(memory_mb):
        return solve(job)


@dataclass
class _Running:
    job: SolveJob
    started: float | None = None  # when it began running (as far as the driver can tell)

    def overdue(self, now: float, wall_limit: float) -> bool:
        return self.started is not None and now - self.started > wall_limit


class RaySolvePool:
    """Runs `check_and_solve` on many jobs as Ray tasks on the connected cluster.

    `slots`: tasks in flight at once (normally the cluster's CPUs). `solve` replaces
    `check_and_solve` (it must be importable on the workers).
    """

    def __init__(self, slots: int, memory_mb: int | None = None,
                 time_limit: float | None = None, grace_seconds: float = GRACE_SECONDS,
                 max_retries: int = MAX_RETRIES,
                 solve: Callable[[SolveJob], SolveOutcome] = check_and_solve) -> None:
        self.ray = import_ray()
        if not self.ray.is_initialized():
            raise ClusterError("RaySolvePool needs a connected Ray cluster: call it inside "
                               "nl2opt.cluster.session.ray_session (or after ray.init()).")
        self.slots = max(1, slots)
        self.memory_mb = memory_mb
        self.wall_limit = (time_limit or 0.0) * 2 + grace_seconds
        self.solve = solve
        options: dict[str, Any] = {"num_cpus": 1, "max_retries": max_retries,
                                   "retry_exceptions": False}
        if memory_mb:
            options["memory"] = memory_mb * MIB
        self.task = self.ray.remote(solve_with_memory_cap).options(**options)

    def run(self, jobs: list[SolveJob]) -> list[SolveOutcome]:
        """One outcome per job, in order."""
        outcomes: dict[int, SolveOutcome] = {}
        queue = deque(jobs)
        running: dict[Any, _Running] = {}  # task ref -> its job, in submission order
        while queue or running:
            while queue and len(running) < self.slots * (1 + PREFETCH):
                job = queue.popleft()
                running[self.task.remote(job, self.memory_mb, self.solve)] = _Running(job)
            self._start_clocks(running)
            self._collect(running, outcomes)
        return [outcomes[job.id] for job in jobs]

    def _start_clocks(self, running: dict[Any, _Running]) -> None:
        """The first `slots` unfinished tasks run now; the others wait in Ray's queue, so
        their clocks start when they move up."""
        now = time.monotonic()
        for task in itertools.islice(running.values(), self.slots):
            if task.started is None:
                task.started = now

    def _collect(self, running: dict[Any, _Running], outcomes: dict[int, SolveOutcome]
                 ) -> None:
        """Wait for the next task to finish (or the next deadline); take what is done."""
        now = time.monotonic()
        started = [task.started for task in running.values() if task.started is not None]
        next_deadline = min(started) + self.wall_limit
        done, _ = self.ray.wait(list(running), num_returns=1,
                                timeout=max(0.0, min(next_deadline - now, 1.0)))
        if done:  # collect everything else that finished meanwhile, without waiting
            done, _ = self.ray.wait(list(running), num_returns=len(running), timeout=0)
        for ref in done:
            outcomes[running.pop(ref).job.id] = self._outcome(ref)
        now = time.monotonic()
        for ref in [ref for ref, task in running.items() if task.overdue(now, self.wall_limit)]:
            self.ray.cancel(ref, force=True)
            outcomes[running.pop(ref).job.id] = lost_outcome(
                "timeout", f"Solving took longer than {self.wall_limit:.0f} s and was stopped.",
                self.wall_limit)

    def _outcome(self, ref: Any) -> SolveOutcome:
        exceptions = self.ray.exceptions
        try:
            return self.ray.get(ref)
        except exceptions.RayTaskError as error:  # the job's own exception: never retried
            return lost_outcome("solver_error", f"Solving failed: {error.cause!r}")
        except (exceptions.WorkerCrashedError, exceptions.NodeDiedError,
                exceptions.ObjectLostError, exceptions.OutOfMemoryError) as error:
            return lost_outcome(
                "solver_error", "Solving failed: the solve worker was lost on every attempt "
                f"({type(error).__name__}; memory limit {self.memory_mb} MB?). Make the model "
                "smaller.")
