"""Throughput of the evaluation runner outside the LLM.

Every formulation in examples/ becomes a benchmark item (repeated --copies
times) whose "LLM" instantly answers with that formulation, so all time
measured is nl2opt's own: building prompts, reading replies, and the solve
stage (validate, compile, solve, check) in the worker pool. Prints, per worker
count: wall seconds, items per second, main-process CPU seconds per item
(prompts, reply parsing, records) and solve-stage CPU seconds per item (in the
workers), and checks that every answer is scored correct.

    python bench/eval_throughput.py [--copies 4] [--workers 0 1 2]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


class ExampleLLM:
    """Answers each question with the example formulation it names."""

    name, model = "bench", "bench"

    def __init__(self, answers: dict[str, str]) -> None:
        self.answers = answers

    def generate(self, requests):
        from nl2opt.llm.types import LLMResponse

        replies = []
        for request in requests:
            name = re.search(r"Example (\S+)\.", request.messages[-1].content).group(1)
            replies.append([LLMResponse(text=self.answers[name], finish_reason="stop")] *
                           request.n)
        return replies


def build_dataset(copies: int):
    from nl2opt.datasets.types import Dataset, DatasetItem

    expected = json.loads((ROOT / "examples" / "expected.json").read_text())
    answers, items = {}, []
    for name, label in sorted(expected.items()):
        formulation = json.loads((ROOT / "examples" / name).read_text())
        answers[name] = json.dumps({"reasoning": "example", "formulation": formulation})
        for copy in range(copies):
            items.append(DatasetItem(
                uid=f"bench/{name}/{copy}", dataset="bench", subset=label["class"],
                question=f"Benchmark copy {copy}. Example {name}.",
                answer=label["objective"], answer_status=label["termination"]))
    dataset = Dataset(name="bench", path="examples", version="examples", file_hash="-",
                      items=items)
    return dataset, answers


def measure(dataset, answers, workers: int, rounds: int) -> dict:
    from nl2opt.evaluation.records import RunConfig
    from nl2opt.evaluation.runner import run_evaluation

    config = RunConfig(dataset="bench", llm="bench", rounds=rounds, time_limit=30.0,
                       workers=workers, batch_size=64, memory_mb=4096)
    with tempfile.TemporaryDirectory() as out:
        wall, cpu = time.perf_counter(), time.process_time()
        records = run_evaluation(dataset, ExampleLLM(answers), config, out)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    solve_cpu = [r.cpu_seconds for r in records]
    wrong = [r.uid for r in records if not r.correct]
    return {"workers": workers, "items": len(records), "wall_s": wall,
            "items_per_s": len(records) / wall, "main_cpu_s_per_item": cpu / len(records),
            "solve_cpu_s_per_item_mean": statistics.fmean(solve_cpu),
            "solve_cpu_s_per_item_median": statistics.median(solve_cpu),
            "correct": len(records) - len(wrong), "wrong": wrong[:5]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=4)
    parser.add_argument("--workers", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--rounds", type=int, default=0)
    args = parser.parse_args()
    os.chdir(ROOT / "examples")  # CSV paths in the examples are relative to this folder
    dataset, answers = build_dataset(args.copies)
    print(f"{len(dataset.items)} items ({len(answers)} example formulations x {args.copies}), "
          f"{os.cpu_count()} CPUs")
    print(f"{'workers':>7} {'wall s':>8} {'items/s':>8} {'main CPU ms/item':>17} "
          f"{'solve CPU ms/item (mean/median)':>32} {'correct':>8}")
    for workers in args.workers:
        row = measure(dataset, answers, workers, args.rounds)
        print(f"{row['workers']:>7} {row['wall_s']:>8.2f} {row['items_per_s']:>8.1f} "
              f"{1000 * row['main_cpu_s_per_item']:>17.1f} "
              f"{1000 * row['solve_cpu_s_per_item_mean']:>20.1f} / "
              f"{1000 * row['solve_cpu_s_per_item_median']:<9.1f} "
              f"{row['correct']:>4}/{row['items']}" + (f" wrong: {row['wrong']}"
                                                       if row["wrong"] else ""))


if __name__ == "__main__":
    main()
