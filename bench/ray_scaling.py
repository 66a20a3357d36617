"""Ray's cost and scaling on the CPU side of an evaluation (replayed answers).

Every formulation in examples/ with inline data becomes --copies benchmark items
(each copy named apart, so the solve cache solves every one) whose "LLM" answers
at once with that formulation: all time measured is nl2opt's own. Each
configuration runs the same evaluation (one round, all items in one chunk) with
a warm pool, the pools taking turns within each repeat:

- local: `SolvePool` (worker processes on this machine) with 1 and 2 workers;
- Ray: `RaySolvePool` (Ray tasks on a local cluster of 2 CPUs) with 1 and 2 slots.

Timed (wall clock, best of --repeats, default 5): the whole run, and the solve
stage alone (the time inside the pool's `run`, the part Ray distributes; the
rest, prompts, reply parsing and records, is the driver's and the same for
every pool), and the CPU time of the jobs in the workers. Prints the table, the
load average before and after (the machine may be shared), and

    ray_overhead_ms=<(Ray 1 slot - local 1 worker) solve-stage ms per item>
    scaling_1_to_2=<Ray solve stage, 1 slot / 2 slots>

Targets: overhead under 5 ms per item, scaling at least 1.7.

    python bench/ray_scaling.py [--copies 8] [--repeats 5]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

from eval_throughput import build_dataset  # noqa: E402 - after the path is set


class CopyLLM:
    """Answers "Benchmark copy K. Example NAME." with NAME's formulation, named copy K."""

    name, model = "bench", "bench"

    def __init__(self, answers: dict[str, str]) -> None:
        self.answers = {name: json.loads(text) for name, text in answers.items()}

    def generate(self, requests):
        from nl2opt.llm.types import LLMResponse

        replies = []
        for request in requests:
            copy, name = re.search(r"copy (\d+)\. Example (\S+)\.",
                                   request.messages[-1].content).groups()
            answer = json.loads(json.dumps(self.answers[name]))
            answer["formulation"]["name"] = f"{name} copy {copy}"
            replies.append([LLMResponse(text=json.dumps(answer), finish_reason="stop")]
                           * request.n)
        return replies


class TimedPool:
    """A pool that adds up the wall time spent in its `run`."""

    def __init__(self, pool) -> None:
        self.pool, self.seconds = pool, 0.0

    def run(self, jobs):
        started = time.perf_counter()
        try:
            return self.pool.run(jobs)
        finally:
            self.seconds += time.perf_counter() - started


def measure(dataset, answers, pool) -> tuple[float, float, float]:
    """Wall seconds of one evaluation run and of its solve stage; CPU seconds of the jobs
    (in the workers)."""
    from nl2opt.evaluation.records import RunConfig
    from nl2opt.evaluation.runner import run_evaluation

    config = RunConfig(dataset="bench", llm="bench", rounds=0, time_limit=30.0, workers=1,
                       batch_size=len(dataset.items), memory_mb=4096)
    timed = TimedPool(pool)
    with tempfile.TemporaryDirectory() as out:
        started = time.perf_counter()
        records = run_evaluation(dataset, CopyLLM(answers), config, out, solve_pool=timed)
        wall = time.perf_counter() - started
    wrong = [r.uid for r in records if not r.correct]
    if wrong:
        raise SystemExit(f"wrong answers, the measurement is void: {wrong[:5]}")
    return wall, timed.seconds, sum(record.cpu_seconds for record in records)


def measure_all(dataset, answers, repeats: int) -> dict[str, dict]:
    """Best of `repeats` per pool, the pools taking turns within each repeat so that a
    load that comes and goes (a shared machine) weighs on all of them alike."""
    from nl2opt.cluster.session import ray_session
    from nl2opt.cluster.solve_pool import RaySolvePool
    from nl2opt.evaluation.solve_stage import SolvePool

    with ray_session("local", num_cpus=2, include_dashboard=False), \
            SolvePool(1, memory_mb=4096, time_limit=30.0) as local1, \
            SolvePool(2, memory_mb=4096, time_limit=30.0) as local2:
        pools = {"local, 1 worker(s)": local1, "local, 2 worker(s)": local2,
                 "Ray, 1 slot(s)": RaySolvePool(1, memory_mb=4096, time_limit=30.0),
                 "Ray, 2 slot(s)": RaySolvePool(2, memory_mb=4096, time_limit=30.0)}
        for pool in pools.values():  # warm-up: workers started, modules imported
            measure(dataset, answers, pool)
        rows = {label: dict.fromkeys(("wall_s", "solve_s", "cpu_s"), float("inf"))
                for label in pools}
        for _ in range(repeats):
            for label, pool in pools.items():
                measured = dict(zip(("wall_s", "solve_s", "cpu_s"),
                                    measure(dataset, answers, pool)))
                rows[label] = {key: min(rows[label][key], measured[key]) for key in measured}
    return rows


def inline_data_only(dataset, answers):
    """Without the formulations that read CSV files: an evaluation gives an LLM's answer no
    data folder."""
    answers = {name: text for name, text in answers.items() if ".csv" not in text}
    items = [item for item in dataset.items
             if re.search(r"Example (\S+)\.", item.question).group(1) in answers]
    return dataset.model_copy(update={"items": items}), answers


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    dataset, answers = inline_data_only(*build_dataset(args.copies))
    items = len(dataset.items)
    load_before = os.getloadavg()
    rows = measure_all(dataset, answers, args.repeats)
    load_after = os.getloadavg()
    print(f"{items} items ({len(answers)} example formulations x {args.copies}), "
          f"{os.cpu_count()} CPUs, best of {args.repeats}; load average "
          f"{load_before[0]:.1f} before, {load_after[0]:.1f} after")
    print(f"{'pool':<22} {'run s':>7} {'ms/item':>8} {'solve stage s':>14} {'ms/item':>8} "
          f"{'job CPU ms/item':>16}")
    for label, row in rows.items():
        print(f"{label:<22} {row['wall_s']:>7.2f} {1000 * row['wall_s'] / items:>8.1f} "
              f"{row['solve_s']:>14.2f} {1000 * row['solve_s'] / items:>8.1f} "
              f"{1000 * row['cpu_s'] / items:>16.1f}")
    local1, local2 = rows["local, 1 worker(s)"], rows["local, 2 worker(s)"]
    ray1, ray2 = rows["Ray, 1 slot(s)"], rows["Ray, 2 slot(s)"]
    overhead = 1000 * (ray1["solve_s"] - local1["solve_s"]) / items
    scaling = ray1["solve_s"] / ray2["solve_s"]
    print(f"Ray over the local pool: {overhead:+.1f} ms per item in the solve stage (whole "
          f"run {1000 * (ray1['wall_s'] - local1['wall_s']) / items:+.1f}); target < 5 -> "
          f"{'met' if overhead < 5 else 'NOT met'}")
    print(f"1 -> 2 workers, solve stage: Ray {scaling:.2f}x, local "
          f"{local1['solve_s'] / local2['solve_s']:.2f}x (whole run: Ray "
          f"{ray1['wall_s'] / ray2['wall_s']:.2f}x); target >= 1.7 -> "
          f"{'met' if scaling >= 1.7 else 'NOT met'}")
    print(f"ray_overhead_ms={overhead:.2f} scaling_1_to_2={scaling:.2f}")


if __name__ == "__main__":
    main()
