"""Run a pure function over many items in worker processes, yielding as results arrive.

The functions given here (`plan.realize`, `verify.verify_pair`) take and return
picklable data and touch no files, so the same calls fit a process pool today and
Ray tasks later (issue 14).
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from typing import TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")


def in_processes(function: Callable[[Item], Result], items: list[Item], workers: int
                 ) -> Iterator[tuple[Item, Result]]:
    """(item, function(item)) pairs in completion order; `workers` <= 1 runs here."""
    if workers <= 1 or len(items) <= 1:
        for item in items:
            yield item, function(item)
        return
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["nl2opt.synthesis.plan", "nl2opt.synthesis.verify"])
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        yield from _as_finished(pool, function, items, 4 * workers)


def _as_finished(pool: ProcessPoolExecutor, function, items: Iterable, window: int):
    """Keep at most `window` items in flight, so a kill loses little queued work."""
    queue = iter(items)
    running: dict[Future, object] = {}
    while True:
        while len(running) < window:
            item = next(queue, None)
            if item is None:
                break
            running[pool.submit(function, item)] = item
        if not running:
            return
        finished, _ = wait(running, return_when=FIRST_COMPLETED)
        for future in finished:
            yield running.pop(future), future.result()
