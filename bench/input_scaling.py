"""Do check, solve and code scale linearly in the number of named constraints, and is an
oversized model refused quickly?

    python bench/input_scaling.py [--sizes 12500 25000 50000] [--skip-cli]

(1) Named constraints: a formulation with N constraints `x >= k`, each with its own name
    and description, goes through `nl2opt check`, `nl2opt solve` and `nl2opt code` in
    fresh subprocesses. Printed: wall time and CPU time (user + system, from
    getrusage of the child) per command and size, and the CPU ratio between successive
    sizes. Linear work doubles when N doubles (ratio ~2); the quadratic name checks of
    issue 9 (list.count per name, a list scan per description) gave ratios near 4.
(2) Refusal: the 270-byte product of two sums over 20,000 elements (~400 million
    quadratic terms) through `validate` in this process: time to the refusal and peak
    traced allocation (tracemalloc).
CPU time is the figure to compare: wall time depends on what else the machine runs.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path


def named_constraints(count: int) -> dict:
    return {"variables": [{"name": "x"}],
            "objective": {"sense": "minimize", "expression": "x"},
            "constraints": [{"name": f"limit_{k}", "description": f"row {k}",
                             "expression": f"x >= {k}"} for k in range(count)]}


def run_cli(command: str, path: Path) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of `nl2opt COMMAND PATH` in a child process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "nl2opt.cli", command, str(path)],
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def scaling(sizes: list[int]) -> None:
    print("(1) named constraints through the CLI")
    print(f"{'command':8} {'N':>7} {'wall s':>8} {'cpu s':>8} {'cpu ratio':>10}")
    with tempfile.TemporaryDirectory() as folder:
        paths = {}
        for size in sizes:
            paths[size] = Path(folder) / f"named_{size}.json"
            paths[size].write_text(json.dumps(named_constraints(size)))
        for command in ("check", "solve", "code"):
            previous = None
            for size in sizes:
                wall, cpu = run_cli(command, paths[size])
                ratio = f"{cpu / previous:.2f}" if previous else "-"
                print(f"{command:8} {size:>7} {wall:>8.2f} {cpu:>8.2f} {ratio:>10}", flush=True)
                previous = cpu


def refusal() -> None:
    from nl2opt.formulation.model import Formulation
    from nl2opt.formulation.validate import validate

    formulation = Formulation.model_validate({
        "sets": [{"name": "I", "range": [1, 20_000]}],
        "variables": [{"name": "x", "index": ["I"]}],
        "objective": {"sense": "minimize",
                      "expression": "sum(x[i] for i in I) * sum(x[j] for j in I)"}})
    tracemalloc.start()
    started = time.perf_counter()
    issues = [i for i in validate(formulation) if i.code == "too-large"]
    seconds = time.perf_counter() - started
    peak = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    print("(2) product of two sums over 20,000 elements")
    print(f"refused: {bool(issues)} in {seconds:.3f} s, peak traced allocation {peak:.1f} MB")
    if issues:
        print(f"message: {issues[0].element}: {issues[0].message[:160]}...")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[12_500, 25_000, 50_000])
    parser.add_argument("--skip-cli", action="store_true", help="only the refusal (2)")
    args = parser.parse_args()
    if not args.skip_cli:
        scaling(args.sizes)
    refusal()


if __name__ == "__main__":
    main()
