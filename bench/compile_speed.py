"""How fast does a formulation become a HiGHS model? nl2opt vs the floor and its peers.

    python bench/compile_speed.py [--size 1.0] [--processes 3] [--skip-pyomo] [--skip-peers]

The model is a multi-period production/transportation plan (plants P, customers C,
periods T) of about 1,000,000 constraint-matrix nonzeros at --size 1. Measured, each up
to the point HiGHS holds the model (nothing is solved):

  (a)  nl2opt direct path: compile_arrays + build_highs (the array passModel), from a
       formulation already parsed with its data resolved; a_full adds parsing and data
       resolution; a_solve is what `solve` does (validate with its trial compile, then
       the same compiled model to HiGHS);
  (b)  Pyomo: build_pyomo_model + Pyomo's translation into HiGHS (translate_to_highs);
  (c)  floor: the array form of highspy's passModel from prebuilt CSR numpy arrays, the
       very arrays (a) produced (c_lp: a HighsLp filled field by field, which copies
       each array element by element);
  (d)  peers, from numpy data: linopy (build + Model.to_highspy) and cvxpy (build +
       get_problem_data + its HiGHS interface up to Highs.run).

Every tool's HiGHS model must have the same rows, columns and nonzeros as nl2opt's.
Each figure is the median of --processes fresh processes, one cold measurement each
(imports and data generation are not timed), with the process's peak RSS. The last
line is machine-readable: speedup_vs_pyomo = b / a_full, ratio_to_floor = a / c,
speedup_vs_best_peer = fastest peer / a_full (both start from data, not a parse).
Peers need the optional extra: pip install -e ".[bench]".
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

FLOOR_TARGET = 2.0  # a at most this many times c
PEER_TARGET = 2.0  # a_full at least this many times faster than the fastest peer
CHECK_SIZE = 0.04


# -- the benchmark model ------------------------------------------------------------------
def dimensions(size: float) -> tuple[int, int, int]:
    """Plants, customers, periods: nnz is about 2 * P * C * T (balance + serve rows)."""
    return 50, max(2, round(250 * size)), 40


def model_data(size: float, seed: int = 7) -> dict[str, np.ndarray]:
    """The data from a fixed seed, rounded to 2 decimals (as the formulation's tables)."""
    plants_n, customers_n, periods = dimensions(size)
    rng = np.random.default_rng(seed)
    demand = rng.integers(5, 50, (customers_n, periods)).astype(float)
    # Capacity per period covers 0.8-1.6x the plants' share of demand: feasible with stock.
    cap = rng.uniform(0.8, 1.6, (plants_n, periods)) * demand.sum(0) / plants_n * 1.25
    prod_cost = rng.uniform(5, 15, (plants_n, periods))
    ship_cost = rng.uniform(1, 20, (plants_n, customers_n))
    hold = rng.uniform(0.1, 1.0, plants_n)
    return {name: np.round(values, 2) for name, values in (
        ("demand", demand), ("cap", cap), ("prod_cost", prod_cost), ("ship_cost", ship_cost),
        ("hold", hold))}


def make_formulation(size: float, seed: int = 7):
    """The formulation, with all data inline as tables (`model_data`)."""
    from nl2opt.formulation.model import Formulation

    plants_n, customers_n, periods = dimensions(size)
    plants = [f"p{i}" for i in range(plants_n)]
    customers = [f"c{j}" for j in range(customers_n)]
    d = model_data(size, seed)
    demand, cap, prod_cost = d["demand"], d["cap"], d["prod_cost"]
    ship_cost, hold = d["ship_cost"], d["hold"]

    def table(names_a, names_b, values):
        return [[a, b, float(values[i, j])] for i, a in enumerate(names_a)
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
             "table": [[p, float(h)] for p, h in zip(plants, hold)]},
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


class Clock:
    """Wall and CPU seconds, peak RSS and its growth over the measured block."""

    def __enter__(self):
        self.rss_before = current_rss_mb()
        self.wall, self.cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc):
        self.wall = time.perf_counter() - self.wall
        self.cpu = time.process_time() - self.cpu

    def report(self, highs=None, **extra) -> dict:
        figures = {"s": self.wall, "cpu": self.cpu, "peak_mb": peak_rss_mb(),
                   "growth_mb": peak_rss_mb() - self.rss_before, **extra}
        if highs is not None:
            figures["shape"] = [highs.getNumRow(), highs.getNumCol(), highs.getNumNz()]
        return figures


# -- workers (each runs in its own subprocess, once, cold) ------------------------------------
def work_direct(size: float, save: str | None) -> dict:
    from nl2opt.formulation.arrays import compile_arrays
    from nl2opt.formulation.data import resolve_data
    from nl2opt.formulation.parsed import parse_formulation
    from nl2opt.solvers.highs_direct import build_highs, new_highs

    formulation = make_formulation(size)
    new_highs()  # the one-time banner silencing is not part of the measurement
    with Clock() as clock:
        t0 = time.perf_counter()
        parsed, _errors = parse_formulation(formulation)
        t1 = time.perf_counter()
        data = resolve_data(formulation)
        t2 = time.perf_counter()
        model = compile_arrays(formulation, parsed, data)
        t3 = time.perf_counter()
        highs = build_highs(model)
        t4 = time.perf_counter()
    if save:
        np.savez(save, indptr=model.matrix.indptr, indices=model.matrix.indices,
                 data=model.matrix.data, col_cost=model.objective, col_lower=model.col_lower,
                 col_upper=model.col_upper, row_lower=model.row_lower,
                 row_upper=model.row_upper, offset=model.objective_offset)
    return clock.report(highs, a=t4 - t2, stages={"parse": t1 - t0, "data": t2 - t1,
                                                  "compile": t3 - t2, "pass": t4 - t3})


def work_solve_path(size: float) -> dict:
    from nl2opt.formulation.prepared import preparing
    from nl2opt.formulation.validate import validate
    from nl2opt.solvers.highs_direct import build_highs, new_highs

    formulation = make_formulation(size)
    new_highs()
    with Clock() as clock, preparing(formulation) as prepared:
        assert not [i for i in validate(formulation) if i.severity.value == "error"]
        highs = build_highs(prepared.model())
    return clock.report(highs)


def work_floor(arrays_path: str, field_by_field: bool) -> dict:
    import highspy

    from nl2opt.solvers.highs_direct import new_highs

    arrays = dict(np.load(arrays_path))
    new_highs()
    with Clock() as clock:
        highs = highspy.Highs()
        highs.setOptionValue("output_flag", False)
        if field_by_field:
            highs.passModel(_highs_lp(highspy, arrays))
        else:
            _pass_arrays(highspy, highs, arrays)
    return clock.report(highs)


def _pass_arrays(highspy, highs, arrays: dict) -> None:
    n_col, n_row = len(arrays["col_cost"]), len(arrays["row_lower"])
    highs.passModel(n_col, n_row, len(arrays["data"]), int(highspy.MatrixFormat.kRowwise),
                    int(highspy.ObjSense.kMinimize), float(arrays["offset"]), arrays["col_cost"],
                    arrays["col_lower"], arrays["col_upper"], arrays["row_lower"],
                    arrays["row_upper"], arrays["indptr"], arrays["indices"], arrays["data"],
                    np.zeros(n_col, dtype=np.int32))


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


def work_pyomo(size: float) -> dict:
    from nl2opt.solvers.pyomo_model import build_pyomo_model, translate_to_highs

    formulation = make_formulation(size)
    with Clock() as clock:
        build = build_pyomo_model(formulation)
        highs = translate_to_highs(build)
    return clock.report(highs)


def work_linopy(size: float) -> dict:
    import linopy
    import xarray as xr

    d = model_data(size)
    plants, customers, periods = (np.arange(n) for n in dimensions(size))
    with Clock() as clock:
        coords = {"P": plants, "C": customers, "T": periods}

        def array(values, *dims):
            return xr.DataArray(values, coords={k: coords[k] for k in dims}, dims=dims)

        m = linopy.Model()
        make = m.add_variables(lower=0, upper=array(d["cap"], "P", "T"), name="make")
        ship = m.add_variables(lower=0, coords=[plants, customers, periods],
                               dims=["P", "C", "T"], name="ship")
        stock = m.add_variables(lower=0, coords=[plants, periods], dims=["P", "T"],
                                name="stock")
        opening = np.zeros((len(plants), len(periods)))  # initial stock (0) in period 1
        m.add_constraints(stock - stock.shift(T=1) - make + ship.sum("C")
                          == array(opening, "P", "T"), name="balance")
        m.add_constraints(ship.sum("P") >= array(d["demand"], "C", "T"), name="serve")
        m.add_objective((array(d["prod_cost"], "P", "T") * make).sum()
                        + (array(d["ship_cost"], "P", "C") * ship).sum()
                        + (array(d["hold"], "P") * stock).sum())
        highs = m.to_highspy()
    return clock.report(highs)


class _Held(BaseException):
    """Raised from Highs.run: cvxpy has handed the model over; stop before solving."""

    def __init__(self, highs) -> None:
        self.highs = highs


def work_cvxpy(size: float) -> dict:
    import cvxpy as cp
    import highspy
    import scipy.sparse as sp

    def hold(highs):
        raise _Held(highs)

    highspy.Highs.run = hold
    d = model_data(size)
    plants, customers, periods = dimensions(size)
    with Clock() as clock:
        make = cp.Variable((plants, periods), bounds=[np.zeros_like(d["cap"]), d["cap"]])
        ship = cp.Variable((plants * customers, periods), nonneg=True)  # row p * C + c
        stock = cp.Variable((plants, periods), nonneg=True)
        per_plant = sp.kron(sp.eye(plants), np.ones((1, customers)), format="csr")
        per_customer = sp.kron(np.ones((1, plants)), sp.eye(customers), format="csr")
        constraints = [
            stock[:, 1:] == stock[:, :-1] + make[:, 1:] - per_plant @ ship[:, 1:],
            stock[:, 0] == make[:, 0] - per_plant @ ship[:, 0],
            per_customer @ ship >= d["demand"]]
        cost = (cp.sum(cp.multiply(d["prod_cost"], make))
                + cp.sum(cp.multiply(np.repeat(d["ship_cost"].reshape(-1, 1), periods, 1), ship))
                + cp.sum(cp.multiply(np.repeat(d["hold"].reshape(-1, 1), periods, 1), stock)))
        problem = cp.Problem(cp.Minimize(cost), constraints)
        data, chain, _ = problem.get_problem_data(cp.HIGHS)
        try:
            chain.solver.solve_via_data(data, False, False, {})
        except _Held as held:
            highs = held.highs
    return clock.report(highs)


def work_check(size: float) -> dict:
    """Solve the small instance through both nl2opt paths; the optima must agree."""
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


WORKERS = {
    "direct": lambda args: work_direct(args.size, args.arrays),
    "solve_path": lambda args: work_solve_path(args.size),
    "floor": lambda args: work_floor(args.arrays, False),
    "floor_lp": lambda args: work_floor(args.arrays, True),
    "pyomo": lambda args: work_pyomo(args.size),
    "linopy": lambda args: work_linopy(args.size),
    "cvxpy": lambda args: work_cvxpy(args.size),
    "check": lambda args: work_check(CHECK_SIZE),
}


def spawn(worker: str, args: argparse.Namespace, arrays: str | None = None) -> dict:
    command = [sys.executable, __file__, "--worker", worker, "--size", str(args.size)]
    if arrays:
        command += ["--arrays", arrays]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        return {"error": (done.stderr.strip().splitlines() or ["failed"])[-1]}
    return json.loads(done.stdout.strip().splitlines()[-1])


def median_of(worker: str, args, processes: int, arrays: str | None = None) -> dict:
    """The run with the median wall time among fresh processes, with all the times."""
    runs = [spawn(worker, args, arrays) for _ in range(processes)]
    failed = [run for run in runs if "error" in run]
    if failed:
        return failed[0]
    ordered = sorted(runs, key=lambda run: run["s"])
    middle = dict(ordered[len(ordered) // 2])
    middle["all"] = [run["s"] for run in runs]
    if "a" in middle:
        middle["a"] = sorted(run["a"] for run in runs)[len(runs) // 2]
    return middle


# -- report -----------------------------------------------------------------------------------
def line(label: str, figure: dict, reference: list | None = None) -> str:
    if "error" in figure:
        return f"{label:34s} failed: {figure['error']}"
    runs = ", ".join(f"{s:.3f}" for s in figure["all"])
    same = "" if reference is None else (
        "  same shape" if figure["shape"] == reference else f"  SHAPE DIFFERS {figure['shape']}")
    return (f"{label:34s} {figure['s']:7.3f} s (runs {runs}; CPU {figure['cpu']:.3f} s)  "
            f"peak RSS {figure['peak_mb']:4.0f} MB (+{figure['growth_mb']:.0f}){same}")


def optional(name: str) -> str:
    try:
        __import__(name)
    except ImportError as error:
        return str(error)
    return ""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=float, default=1.0,
                        help="scale: 1.0 is about 1,000,000 nonzeros (customers = 250 * size)")
    parser.add_argument("--processes", type=int, default=3, help="fresh processes per figure")
    parser.add_argument("--pyomo-processes", type=int, default=1, help="for (b): it is slow")
    parser.add_argument("--skip-pyomo", action="store_true", help="skip (b) and the check")
    parser.add_argument("--skip-peers", action="store_true", help="skip linopy and cvxpy")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--arrays", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(WORKERS[args.worker](args)))
        return

    plants, customers, periods = dimensions(args.size)
    print(f"nl2opt compile speed: production/transportation, P={plants} C={customers} "
          f"T={periods} (size {args.size}); median of {args.processes} fresh processes per "
          f"figure; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    with tempfile.TemporaryDirectory() as folder:
        arrays = str(Path(folder) / "arrays.npz")
        spawn("direct", args, arrays)  # writes the arrays the floors read
        direct = median_of("direct", args, args.processes)
        floor = median_of("floor", args, args.processes, arrays)
        floor_lp = median_of("floor_lp", args, args.processes, arrays)
    solve_path = median_of("solve_path", args, args.processes)
    shape = direct["shape"]
    stages = direct["stages"]
    print(f"problem: rows={shape[0]:,} cols={shape[1]:,} nnz={shape[2]:,}")
    print(line("(a_full) nl2opt, formulation->HiGHS", direct))
    print(f"{'':34s} parse {stages['parse']:.3f} + data {stages['data']:.3f} | compile "
          f"{stages['compile']:.3f} + build_highs {stages['pass']:.3f}; a = {direct['a']:.3f} s")
    print(line("(a_solve) validate + same model", solve_path, shape))
    print(line("(c) floor: array passModel", floor, shape))
    print(line("(c_lp) HighsLp field by field", floor_lp, shape))
    peers = {}
    if not args.skip_peers:
        for name in ("linopy", "cvxpy"):
            missing = optional(name)
            figure = {"error": f"{missing}; pip install -e '.[bench]'"} if missing else \
                median_of(name, args, args.processes)
            print(line(f"(d) {name}: build + hand-over", figure, shape))
            if "error" not in figure and figure["shape"] == shape:
                peers[name] = figure["s"]
    pyomo = None
    if not args.skip_pyomo:
        pyomo = median_of("pyomo", args, args.pyomo_processes)
        print(line("(b) Pyomo: build + translation", pyomo, shape))
    ratio_to_floor = direct["a"] / floor["s"]
    speedup = pyomo["s"] / direct["s"] if pyomo and "error" not in pyomo else math.nan
    best_peer = min(peers.values()) if peers else math.nan
    versus_peer = best_peer / direct["s"]
    print(f"ratios: a / c = {ratio_to_floor:.2f} (target <= {FLOOR_TARGET:g}); a_full / c = "
          f"{direct['s'] / floor['s']:.2f}; c_lp / c = {floor_lp['s'] / floor['s']:.2f}; "
          f"fastest peer / a_full = {versus_peer:.2f} (target >= {PEER_TARGET:g}); "
          f"b / a_full = {speedup:.1f}")
    if pyomo:
        check = spawn("check", args)
        same = (check["direct_status"] == "optimal"
                and math.isclose(check["direct"], check["pyomo"], rel_tol=1e-7))
        print(f"check (size {CHECK_SIZE}): direct optimum {check['direct']:.6f} "
              f"({check['direct_status']}), Pyomo optimum {check['pyomo']:.6f} "
              f"({check['pyomo_status']}): {'same' if same else 'DIFFERENT'}")
    print(f"load average after: {os.getloadavg()[0]:.1f}")
    print(f"speedup_vs_pyomo={speedup:.2f} ratio_to_floor={ratio_to_floor:.2f} "
          f"speedup_vs_best_peer={versus_peer:.2f}")


if __name__ == "__main__":
    main()
