"""Throughput of the evaluation runner outside the LLM.

Every formulation in examples/ becomes a benchmark item (repeated --copies
times) whose "LLM" instantly answers with that formulation (CSV data written inline:
an evaluation run reads no data files), so all time
measured is nl2opt's own: building prompts, reading replies, and the solve
stage (validate, compile, solve, check) in the worker pool. Prints, per worker
count: wall seconds, items per second, main-process CPU seconds per item
(prompts, reply parsing, records) and solve-stage CPU seconds per item (in the
workers), and checks that every answer is scored correct.

It then measures what peer tools do for the same problems: one Python
subprocess per problem executing generated Pyomo code (nl2opt's own emitted
script, the most favourable stand-in for LLM-written code), two at a time, and
ends with one machine-readable line
`speedup_vs_subprocess=<x> problems_per_s=<y>` (nl2opt with 2 workers vs the
subprocess approach with 2 at a time).

    python bench/eval_throughput.py [--copies 16] [--workers 0 1 2] [--peer-items 32]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


class ExampleLLM:
    """Answers each question with the example formulation it names, its description
    marked with the copy number: every item is a formulation of its own, as in a real
    run, so no copy is answered from another's prepared model."""

    name, model = "bench", "bench"

    def __init__(self, answers: dict[str, str]) -> None:
        self.answers = answers

    def generate(self, requests):
        from nl2opt.llm.types import LLMResponse

        replies = []
        for request in requests:
            found = re.search(r"copy (\d+)\. Example (\S+)\.", request.messages[-1].content)
            answer = json.loads(self.answers[found.group(2)])
            answer["formulation"]["description"] += f" [copy {found.group(1)}]"
            replies.append([LLMResponse(text=json.dumps(answer), finish_reason="stop")] *
                           request.n)
        return replies


HIGHS_CLASSES = {"LP", "MILP", "QP"}


def build_dataset(copies: int, classes: set[str] | None = None):
    from nl2opt.datasets.types import Dataset, DatasetItem

    expected = json.loads((ROOT / "examples" / "expected.json").read_text())
    answers, items = {}, []
    for name, label in sorted(expected.items()):
        if classes is not None and label["class"] not in classes:
            continue
        formulation = inline_csv(ROOT / "examples" / name)
        answers[name] = json.dumps({"reasoning": "example", "formulation": formulation})
        for copy in range(copies):
            items.append(DatasetItem(
                uid=f"bench/{name}/{copy}", dataset="bench", subset=label["class"],
                question=f"Benchmark copy {copy}. Example {name}.",
                answer=label["objective"], answer_status=label["termination"]))
    dataset = Dataset(name="bench", path="examples", version="examples", file_hash="-",
                      items=items)
    return dataset, answers


def inline_csv(path: Path) -> dict:
    """The example as the LLM would answer it: CSV sources read (through the confined
    reader) and written inline, since an evaluation run has no data folder to read from."""
    from nl2opt.formulation.data import resolve_data
    from nl2opt.formulation.model import load_formulation

    formulation = json.loads(path.read_text())
    has_csv = any("csv" in entry for entry in formulation.get("sets", []) +
                  formulation.get("parameters", []))
    if not has_csv:
        return formulation
    data = resolve_data(load_formulation(path))
    for entry in formulation["sets"]:
        if entry.pop("csv", None) is not None:
            entry["elements"] = list(data.sets[entry["name"]].elements)
    for entry in formulation["parameters"]:
        if entry.pop("csv", None) is not None:
            param, sets = data.params[entry["name"]], [data.sets[s] for s in entry["index"]]
            entry["table"] = [[*(s.elements[i] for s, i in zip(sets, key)), float(value)]
                              for key, value in np.ndenumerate(param.values)
                              if not np.isnan(value)]
    return formulation


def measure(dataset, answers, workers: int, rounds: int) -> dict:
    from nl2opt.evaluation.records import RunConfig
    from nl2opt.evaluation.runner import run_evaluation

    config = RunConfig(dataset="bench", llm="bench", rounds=rounds, time_limit=30.0,
                       workers=workers, batch_size=len(dataset.items), memory_mb=4096)
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


def measure_peers(dataset, answers, count: int, parallel: int = 2) -> dict:
    """One `python script.py` per problem running the emitted Pyomo code."""
    from nl2opt.formulation.model import load_formulation
    from nl2opt.solvers.pyomo_code import emit_pyomo_script

    items = dataset.items[:: max(1, len(dataset.items) // count)][:count]
    scripts = {}
    for item in items:
        name = re.search(r"Example (\S+)\.", item.question).group(1)
        if name not in scripts:
            formulation = load_formulation(json.loads(answers[name])["formulation"])
            scripts[name] = emit_pyomo_script(formulation.with_data_dir(ROOT / "examples"))
    with tempfile.TemporaryDirectory() as folder:
        paths = []
        for item in items:
            name = re.search(r"Example (\S+)\.", item.question).group(1)
            path = Path(folder) / f"{len(paths)}.py"
            path.write_text(scripts[name])
            paths.append((path, item))
        started = time.perf_counter()
        with ThreadPoolExecutor(parallel) as pool:
            outputs = list(pool.map(_run_script, [p for p, _ in paths]))
        wall = time.perf_counter() - started
    agree = sum(_script_agrees(out, item) for out, (_, item) in zip(outputs, paths))
    return {"items": len(items), "wall_s": wall, "items_per_s": len(items) / wall,
            "agree": agree}


def _run_script(path: Path) -> str:
    done = subprocess.run([sys.executable, str(path)], capture_output=True, text=True,
                          timeout=300, cwd=ROOT / "examples", check=False)
    return done.stdout


def _script_agrees(stdout: str, item) -> bool:
    found = re.search(r"^OBJECTIVE = (\S+)$", stdout, re.MULTILINE)
    if item.answer_status != "optimal":
        return found is None
    return found is not None and abs(float(found.group(1)) - item.answer) <= \
        1e-4 * max(1.0, abs(item.answer))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=16)
    parser.add_argument("--peer-items", type=int, default=32,
                        help="problems for the one-subprocess-per-problem comparison")
    parser.add_argument("--workers", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--rounds", type=int, default=0)
    args = parser.parse_args()
    os.chdir(ROOT / "examples")  # CSV paths in the examples are relative to this folder
    dataset, answers = build_dataset(args.copies)
    print(f"{len(dataset.items)} items ({len(answers)} example formulations x {args.copies}), "
          f"{os.cpu_count()} CPUs")
    print(f"{'workers':>7} {'wall s':>8} {'items/s':>8} {'main CPU ms/item':>17} "
          f"{'solve CPU ms/item (mean/median)':>32} {'correct':>8}")
    rows = {}
    for workers in args.workers:
        row = rows[workers] = measure(dataset, answers, workers, args.rounds)
        print(f"{row['workers']:>7} {row['wall_s']:>8.2f} {row['items_per_s']:>8.1f} "
              f"{1000 * row['main_cpu_s_per_item']:>17.1f} "
              f"{1000 * row['solve_cpu_s_per_item_mean']:>20.1f} / "
              f"{1000 * row['solve_cpu_s_per_item_median']:<9.1f} "
              f"{row['correct']:>4}/{row['items']}" + (f" wrong: {row['wrong']}"
                                                       if row["wrong"] else ""))

    peers = measure_peers(dataset, answers, args.peer_items)
    print(f"peers: one subprocess per problem running generated Pyomo code, 2 at a time: "
          f"{peers['items']} problems in {peers['wall_s']:.2f} s = {peers['items_per_s']:.2f} "
          f"problems/s ({peers['agree']}/{peers['items']} answers agree with the labels)")
    ours = rows.get(2) or rows[max(rows)]
    speedup = ours["items_per_s"] / peers["items_per_s"]
    print(f"nl2opt with {ours['workers']} workers: {ours['items_per_s']:.1f} problems/s; "
          f"{speedup:.1f}x the subprocess approach (target: 20x) -> "
          f"{'met' if speedup >= 20 else 'NOT met'}")
    _by_kind(args)
    print(f"speedup_vs_subprocess={speedup:.1f} problems_per_s={ours['items_per_s']:.1f}")


def _by_kind(args) -> None:
    """The same comparison for models HiGHS solves and for those SCIP solves."""
    all_classes = {"LP", "MILP", "QP", "MIQP", "QCP", "MIQCP", "NLP", "MINLP"}
    for label, classes in (("LP/MILP/QP (HiGHS)", HIGHS_CLASSES),
                           ("nonlinear and MIQP (SCIP)", all_classes - HIGHS_CLASSES)):
        dataset, answers = build_dataset(args.copies, classes)
        ours = measure(dataset, answers, 2, args.rounds)
        peers = measure_peers(dataset, answers, min(args.peer_items, len(dataset.items)))
        print(f"  {label}: nl2opt {ours['items_per_s']:.1f} problems/s, subprocesses "
              f"{peers['items_per_s']:.2f} problems/s -> "
              f"{ours['items_per_s'] / peers['items_per_s']:.1f}x")


if __name__ == "__main__":
    main()
