"""How fast does a formulation become a HiGHS model? Direct arrays vs Pyomo vs the floor.

    python bench/compile_speed.py [--size 1.0] [--repeats 3] [--pyomo-repeats 1] [--skip-pyomo]

The model is a multi-period production/transportation plan (plants P, customers C,
periods T) of about 1,000,000 constraint-matrix nonzeros at --size 1. Measured:

  (a)  direct path: compile_arrays + build_highs (passModel), from a formulation that
       is already parsed with its data resolved; a_full also includes parsing and data
       resolution (parse_formulation + resolve_data), shown separately;
  (b)  Pyomo path: build_pyomo_model (parses and resolves data itself) + Pyomo's
       translation into HiGHS (translate_to_highs);
  (c)  floor: highspy passModel of a HighsLp filled from prebuilt CSR numpy arrays,
       the very arrays (a) produced.

Each measurement runs in a fresh subprocess so its peak RSS is its own. Times are the
best of N repeats ((b) defaults to 1: it is slow). The last line is machine-readable:
speedup_vs_pyomo = b / a_full (both include parsing and data resolution) and
ratio_to_floor = a / c.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

SPEEDUP_TARGET = 20.0
FLOOR_TARGET = 3.0
CHECK_SIZE = 0.04


# -- the benchmark model ------------------------------------------------------------------
def dimensions(size: float) -> tuple[int, int, int]:
    """Plants, customers, periods: nnz is about 2 * P * C * T (balance + serve rows)."""
    return 50, max(2, round(250 * size)), 40


def make_formulation(size: float, seed: int = 7):
    """The formulation, with all data inline as tables generated from a fixed seed."""
    from nl2opt.formulation.model import Formulation

    plants_n, customers_n, periods = dimensions(size)
    rng = np.random.default_rng(seed)
    plants = [f"p{i}" for i in range(plants_n)]
    customers = [f"c{j}" for j in range(customers_n)]
    demand = rng.integers(5, 50, (customers_n, periods)).astype(float)
    # Capacity per period covers 0.8-1.6x the plants' share of demand: feasible with stock.
    cap = rng.uniform(0.8, 1.6, (plants_n, periods)) * demand.sum(0) / plants_n * 1.25
    prod_cost = rng.uniform(5, 15, (plants_n, periods))
    ship_cost = rng.uniform(1, 20, (plants_n, customers_n))
    hold = rng.uniform(0.1, 1.0, plants_n)

    def table(names_a, names_b, values):
        return [[a, b, round(float(values[i, j]), 2)] for i, a in enumerate(names_a)
                for j, b in enumerate(names_b)]

    periods_list = list(range(1, periods + 1))
    return Formulation.model_validate({
        "name": "multi-period production and transportation",
        "sets": [{"name": "P", "elements": plants}, {"name": "C", "elements": customers},
                 {"name": "T", "range": [1, periods]}],
        "parameters": [
            {"name": "demand", "index": ["C", "T"],
             "table": table(customers, periods_list, demand)},
            {"name": "cap", "index": ["P", "T"], "table": table(plants, periods_list, cap)},
            {"name": "prod_cost", "index": ["P", "T"],
             "table": table(plants, periods_list, prod_cost)},
            {"name": "ship_cost", "index": ["P", "C"],
             "table": table(plants, customers, ship_cost)},
            {"name": "hold", "index": ["P"],
             "table": [[p, round(float(h), 2)] for p, h in zip(plants, hold)]},
            {"name": "initial", "index": ["P"], "default": 0},
        ],
        "variables": [
            {"name": "make", "index": ["P", "T"], "upper": "cap[P, T]"},
            {"name": "ship", "index": ["P", "C", "T"]},
            {"name": "stock", "index": ["P", "T"]},
        ],
        "objective": {"sense": "minimize", "expression":
                      "sum(prod_cost[p, t] * make[p, t] for p in P for t in T)"
                      " + sum(ship_cost[p, c] * ship[p, c, t] for p in P for c in C for t in T)"
                      " + sum(hold[p] * stock[p, t] for p in P for t in T)"},
        "constraints": [
            {"name": "balance", "forall": ["p in P", "t in T"], "where": "t > 1",
             "expression": "stock[p, t] == stock[p, t - 1] + make[p, t]"
                           " - sum(ship[p, c, t] for c in C)"},
            {"name": "opening", "forall": ["p in P"],
             "expression": "stock[p, 1] == initial[p] + make[p, 1]"
                           " - sum(ship[p, c, 1] for c in C)"},
            {"name": "serve", "forall": ["c in C", "t in T"],
             "expression": "sum(ship[p, c, t] for p in P) >= demand[c, t]"},
        ],
    })


# -- memory ---------------------------------------------------------------------------------
def current_rss_mb() -> float:
    """Resident set size now (Linux /proc; 0 elsewhere)."""
    try:
        with open("/proc/self/statm") as handle:
            return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except OSError:
        return 0.0


def peak_rss_mb() -> float:
    """Process-lifetime peak RSS (ru_maxrss is KiB on Linux, bytes on macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 1024


class MemoryWatch:
    """Peak RSS growth over a measured block, in a process that has done little else."""

    def __enter__(self):
        self.rss_before, self.peak_before = current_rss_mb(), peak_rss_mb()
        return self

    def __exit__(self, *exc):
        self.peak_after = peak_rss_mb()

    def report(self) -> dict:
        # If the block never exceeded the earlier peak, the growth is at most this much.
        return {"peak_mb": self.peak_after, "delta_mb": self.peak_after - self.rss_before,
                "upper_bound_only": self.peak_after <= self.peak_before}


# -- workers (each runs in its own subprocess) ----------------------------------------------
def work_direct(size: float, repeats: int, save: str | None) -> dict:
    from nl2opt.formulation.arrays import compile_arrays
    from nl2opt.formulation.data import resolve_data
    from nl2opt.formulation.parsed import parse_formulation
    from nl2opt.solvers.highs_direct import build_highs, new_highs

    formulation = make_formulation(size)
    new_highs()  # the one-time banner silencing is not part of the measurement
    runs = []
    with MemoryWatch() as memory:
        for _ in range(repeats):
            t0 = time.perf_counter()
            parsed, _errors = parse_formulation(formulation)
            t1 = time.perf_counter()
            data = resolve_data(formulation)
            t2 = time.perf_counter()
            model = compile_arrays(formulation, parsed, data)
            t3 = time.perf_counter()
            highs = build_highs(model)
            t4 = time.perf_counter()
            runs.append({"parse": t1 - t0, "data": t2 - t1, "compile": t3 - t2,
                         "pass": t4 - t3})
            del highs
    if save:
        np.savez(save, indptr=model.matrix.indptr, indices=model.matrix.indices,
                 data=model.matrix.data, col_cost=model.objective, col_lower=model.col_lower,
                 col_upper=model.col_upper, row_lower=model.row_lower,
                 row_upper=model.row_upper, offset=model.objective_offset)
    best = min(runs, key=lambda r: r["compile"] + r["pass"])
    return {"a": min(r["compile"] + r["pass"] for r in runs),
            "a_full": min(sum(r.values()) for r in runs), "stages": best,
            "rows": model.num_rows, "cols": model.num_cols, "nnz": int(model.matrix.nnz),
            "memory": memory.report()}


def work_floor(arrays_path: str, repeats: int) -> dict:
    import highspy

    from nl2opt.solvers.highs_direct import new_highs

    arrays = dict(np.load(arrays_path))
    new_highs()
    times = []
    with MemoryWatch() as memory:
        for _ in range(repeats):
            start = time.perf_counter()
            highs = highspy.Highs()
            highs.setOptionValue("output_flag", False)
            highs.passModel(_highs_lp(highspy, arrays))
            times.append(time.perf_counter() - start)
            del highs
    return {"c": min(times), "memory": memory.report()}


def _highs_lp(highspy, arrays: dict):
    lp = highspy.HighsLp()
    lp.num_col_, lp.num_row_ = len(arrays["col_cost"]), len(arrays["row_lower"])
    lp.col_cost_, lp.offset_ = arrays["col_cost"], float(arrays["offset"])
    lp.col_lower_, lp.col_upper_ = arrays["col_lower"], arrays["col_upper"]
    lp.row_lower_, lp.row_upper_ = arrays["row_lower"], arrays["row_upper"]
    lp.a_matrix_.format_ = highspy.MatrixFormat.kRowwise
    lp.a_matrix_.num_col_, lp.a_matrix_.num_row_ = lp.num_col_, lp.num_row_
    lp.a_matrix_.start_ = arrays["indptr"]
    lp.a_matrix_.index_ = arrays["indices"]
    lp.a_matrix_.value_ = arrays["data"]
    return lp


def work_pyomo(size: float, repeats: int) -> dict:
    from nl2opt.solvers.pyomo_model import build_pyomo_model, translate_to_highs

    formulation = make_formulation(size)
    runs = []
    with MemoryWatch() as memory:
        for _ in range(repeats):
            t0 = time.perf_counter()
            build = build_pyomo_model(formulation)
            t1 = time.perf_counter()
            highs = translate_to_highs(build)
            t2 = time.perf_counter()
            runs.append({"build": t1 - t0, "translate": t2 - t1})
            del highs, build
    best = min(runs, key=lambda r: r["build"] + r["translate"])
    return {"b": best["build"] + best["translate"], "stages": best, "memory": memory.report()}


def work_check(size: float) -> dict:
    """Solve the small instance through both paths; the optima must agree."""
    from nl2opt.solvers.base import SolveOptions
    from nl2opt.solvers.highs_direct import HighsDirectBackend
    from nl2opt.solvers.pyomo_model import build_pyomo_model, translate_to_highs

    formulation = make_formulation(size)
    direct = HighsDirectBackend().solve(formulation, SolveOptions(diagnose=False))
    highs = translate_to_highs(build_pyomo_model(formulation))
    highs.run()
    return {"direct": direct.objective, "direct_status": direct.termination.value,
            "pyomo": highs.getInfo().objective_function_value,
            "pyomo_status": highs.modelStatusToString(highs.getModelStatus())}


def run_worker(args: argparse.Namespace) -> None:
    if args.worker == "direct":
        result = work_direct(args.size, args.repeats, args.arrays)
    elif args.worker == "floor":
        result = work_floor(args.arrays, args.repeats)
    elif args.worker == "pyomo":
        result = work_pyomo(args.size, args.pyomo_repeats)
    else:
        result = work_check(CHECK_SIZE)
    print(json.dumps(result))


def spawn(worker: str, args: argparse.Namespace, arrays: str | None = None) -> dict:
    command = [sys.executable, __file__, "--worker", worker, "--size", str(args.size),
               "--repeats", str(args.repeats), "--pyomo-repeats", str(args.pyomo_repeats)]
    if arrays:
        command += ["--arrays", arrays]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"worker '{worker}' failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


# -- report -----------------------------------------------------------------------------------
def memory_text(memory: dict) -> str:
    sign = "<= " if memory["upper_bound_only"] else ""
    return f"peak RSS {memory['peak_mb']:.0f} MB (growth {sign}{memory['delta_mb']:.0f} MB)"


def pyomo_available() -> str:
    try:
        from nl2opt.solvers.pyomo_model import build_pyomo_model, translate_to_highs  # noqa
    except ImportError as error:
        return str(error)
    return ""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=float, default=1.0,
                        help="scale: 1.0 is about 1,000,000 nonzeros (customers = 250 * size)")
    parser.add_argument("--repeats", type=int, default=3, help="best of N for (a) and (c)")
    parser.add_argument("--pyomo-repeats", type=int, default=1, help="best of N for (b)")
    parser.add_argument("--skip-pyomo", action="store_true", help="skip (b) and the check")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--arrays", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        run_worker(args)
        return

    plants, customers, periods = dimensions(args.size)
    print(f"nl2opt compile speed: production/transportation, P={plants} C={customers} "
          f"T={periods} (size {args.size}), best of {args.repeats} for (a) and (c), "
          f"{args.pyomo_repeats} for (b); each measurement in a fresh process")
    with tempfile.TemporaryDirectory() as folder:
        arrays = str(Path(folder) / "arrays.npz")
        direct = spawn("direct", args, arrays)
        floor = spawn("floor", args, arrays)
    print(f"problem: rows={direct['rows']:,} cols={direct['cols']:,} nnz={direct['nnz']:,}")
    stages = direct["stages"]
    print(f"(a)  direct: parse {stages['parse']:.3f} s + resolve data {stages['data']:.3f} s"
          f" | compile_arrays {stages['compile']:.3f} s + build_highs {stages['pass']:.3f} s")
    print(f"     a = {direct['a']:.3f} s (parsed, data resolved); a_full = "
          f"{direct['a_full']:.3f} s (with parse + data); {memory_text(direct['memory'])}")
    print(f"(c)  floor: passModel from prebuilt CSR arrays {floor['c']:.3f} s; "
          f"{memory_text(floor['memory'])}")

    missing = "" if args.skip_pyomo else pyomo_available()
    pyomo = None
    if args.skip_pyomo or missing:
        print("(b)  Pyomo: skipped" + (f" ({missing})" if missing else " (--skip-pyomo)"))
    else:
        pyomo = spawn("pyomo", args)
        s = pyomo["stages"]
        print(f"(b)  Pyomo: build_pyomo_model {s['build']:.3f} s + translate_to_highs "
              f"{s['translate']:.3f} s = {pyomo['b']:.3f} s; {memory_text(pyomo['memory'])}")

    ratio_to_floor = direct["a"] / floor["c"]
    speedup = pyomo["b"] / direct["a_full"] if pyomo else math.nan
    print(f"ratios: a / c = {ratio_to_floor:.2f}; a_full / c = "
          f"{direct['a_full'] / floor['c']:.2f}" + (
              f"; b / a_full = {speedup:.1f}; b / a = {pyomo['b'] / direct['a']:.1f}"
              if pyomo else ""))
    if pyomo:
        print(f"target (a) >= {SPEEDUP_TARGET:.0f}x faster than (b): "
              f"{'met' if speedup >= SPEEDUP_TARGET else 'NOT met'} ({speedup:.1f}x)")
    print(f"target (a) within {FLOOR_TARGET:.0f}x of (c): "
          f"{'met' if ratio_to_floor <= FLOOR_TARGET else 'NOT met'} ({ratio_to_floor:.2f}x)")
    if pyomo:
        check = spawn("check", args)
        same = (check["direct_status"] == "optimal"
                and math.isclose(check["direct"], check["pyomo"], rel_tol=1e-7))
        print(f"check (size {CHECK_SIZE}): direct optimum {check['direct']:.6f} "
              f"({check['direct_status']}), Pyomo optimum {check['pyomo']:.6f} "
              f"({check['pyomo_status']}): {'same' if same else 'DIFFERENT'}")
    print(f"speedup_vs_pyomo={speedup:.2f} ratio_to_floor={ratio_to_floor:.2f}")


if __name__ == "__main__":
    main()
