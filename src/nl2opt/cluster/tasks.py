"""Map a pure function over many items as Ray tasks, yielding results as they arrive.

`in_ray_tasks(function, items, slots)` is the cluster twin of
`nl2opt.synthesis.workers.in_processes`: same arguments, same (item, result)
pairs in completion order. Each call is a task with `num_cpus=1`, retried by
Ray when its worker or node is lost (never for an exception of its own, which
reaches the caller as from a process pool). At most `slots` tasks run and as
many wait queued behind them, so a killed driver loses little submitted work.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, TypeVar

from nl2opt.cluster.session import import_ray
from nl2opt.cluster.solve_pool import MAX_RETRIES, PREFETCH

Item = TypeVar("Item")
Result = TypeVar("Result")
_END = object()


def in_ray_tasks(function: Callable[[Item], Result], items: list[Item], slots: int
                 ) -> Iterator[tuple[Item, Result]]:
    """(item, function(item)) pairs in completion order, computed on the cluster."""
    ray = import_ray()
    task = ray.remote(function).options(num_cpus=1, max_retries=MAX_RETRIES,
                                        retry_exceptions=False)
    queue = iter(items)
    running: dict[Any, Item] = {}
    window = max(1, slots) * (1 + PREFETCH)
    while True:
        while len(running) < window:
            item = next(queue, _END)
            if item is _END:
                break
            running[task.remote(item)] = item
        if not running:
            return
        done, _ = ray.wait(list(running), num_returns=1)
        for ref in done:
            yield running.pop(ref), ray.get(ref)
