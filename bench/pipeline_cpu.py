"""CPU time per problem spent outside the LLM: reading the reply, validating,
compiling, solving and checking.

Each formulation in examples/ (benchmark-sized models: tens of variables) is
fed to the real pipeline as an LLM answer by the scripted backend, so the
LLM costs nothing and every second measured is nl2opt's own.

    python bench/pipeline_cpu.py [--repeats 5]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    from nl2opt.llm.scripted import ScriptedBackend
    from nl2opt.pipeline.run import PipelineOptions, solve_text

    os.chdir(ROOT / "examples")  # CSV paths in the examples are relative to this folder
    rows = []
    for path in sorted((ROOT / "examples").glob("*.json")):
        if path.name == "expected.json":
            continue
        answer = {"reasoning": "r", "formulation": json.loads(path.read_text())}
        samples = []
        for _ in range(args.repeats + 1):  # the first run warms imports and caches
            llm = ScriptedBackend([answer])
            started = time.process_time()
            report = solve_text("problem", llm, PipelineOptions(rounds=0))
            samples.append((time.process_time() - started, report.attempts[0]))
        cpu = statistics.median(s[0] for s in samples[1:])
        check = statistics.median(s[1].check_seconds for s in samples[1:])
        solve = statistics.median(s[1].solve_seconds for s in samples[1:])
        rows.append((path.stem, cpu, check, solve, report.attempts[0].termination))
    print(f"{'example':30} {'cpu total s':>11} {'validate s':>10} {'solve s':>9}  outcome")
    for name, cpu, check, solve, outcome in rows:
        print(f"{name:30} {cpu:11.4f} {check:10.4f} {solve:9.4f}  {outcome}")
    totals = [r[1] for r in rows]
    print(f"cpu_seconds_per_problem_median={statistics.median(totals):.4f} "
          f"mean={statistics.mean(totals):.4f} max={max(totals):.4f}")


if __name__ == "__main__":
    main()
