"""Startup cost of the OS sandbox: bubblewrap + seccomp versus no isolation.

    python bench/sandbox_startup.py               # 10 runs of each script in each mode
    python bench/sandbox_startup.py --repeats 30

Two scripts: a trivial one (`nl2opt_report(done=True)`) and one that imports Pyomo and
solves a two-variable LP with appsi_highs (what LLM-written code does). Each runs through
`run_sandboxed` with OS isolation and with `unsafe_no_isolation=True` (rlimits, audit hook
and `unshare --net`: the arrangement before bubblewrap). Prints the median and best wall
time of each and the ratio isolated / unisolated. The first isolated call, which also
probes whether bubblewrap works here, is timed separately.
"""

from __future__ import annotations

import argparse
import statistics
import time

from nl2opt.sandbox import run_sandboxed

TRIVIAL = "nl2opt_report(done=True)\n"
PYOMO = """
import pyomo.environ as pyo
m = pyo.ConcreteModel()
m.x = pyo.Var(within=pyo.NonNegativeReals)
m.y = pyo.Var(within=pyo.NonNegativeReals)
m.c = pyo.Constraint(expr=m.x + 2 * m.y <= 8)
m.o = pyo.Objective(expr=3 * m.x + 5 * m.y, sense=pyo.maximize)
pyo.SolverFactory("appsi_highs").solve(m)
nl2opt_report(objective=pyo.value(m.o))
"""


def timed(code: str, unsafe: bool) -> float:
    started = time.perf_counter()
    outcome = run_sandboxed(code, timeout=120, unsafe_no_isolation=unsafe)
    elapsed = time.perf_counter() - started
    if not outcome.ok:
        raise SystemExit(f"the benchmark script failed: {outcome.message}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=10)
    args = parser.parse_args()
    print(f"first isolated call (includes the bubblewrap probe): {timed(TRIVIAL, False):.3f} s")
    for name, code in (("trivial", TRIVIAL), ("pyomo+highs", PYOMO)):
        medians = {}
        for unsafe in (True, False):
            times = [timed(code, unsafe) for _ in range(args.repeats)]
            mode = "unisolated" if unsafe else "bubblewrap+seccomp"
            medians[unsafe] = statistics.median(times)
            print(f"{name:12s} {mode:20s} median {medians[unsafe]:.3f} s  "
                  f"best {min(times):.3f} s  ({args.repeats} runs)")
        print(f"{name:12s} ratio isolated / unisolated (median): "
              f"{medians[False] / medians[True]:.2f}  "
              f"(+{medians[False] - medians[True]:.3f} s)")


if __name__ == "__main__":
    main()
