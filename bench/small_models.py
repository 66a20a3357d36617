"""1,000 small models built and solved from scratch: nl2opt vs cvxpy, Pyomo and linopy.

    python bench/small_models.py [--count 1000] [--processes 3] [--tools nl2opt cvxpy ...]

Two shapes, the kind of model benchmark evaluation solves by the thousand:

  small_lp   a 2-variable LP (3 constraints), its data varied per model;
  transport  a 20 x 20 transportation LP (400 columns, 40 rows), random costs,
             supplies and demands per model (fixed seeds).

Each tool builds every model from the same numbers (nl2opt from a formulation dict, the
others from numpy arrays, the way each is meant to be used) and solves it with HiGHS:
nl2opt through `nl2opt.solve_formulation` (validation included), cvxpy with
`solver=cp.HIGHS`, Pyomo with its `pyomo.contrib.solver` HiGHS interface, linopy with
`solver_name="highs"`. Every tool's objectives must agree with nl2opt's on every model
(relative 1e-6), or the run says so.

Each (tool, shape) runs in --processes fresh subprocesses; the figure is the median of
their models per second (cold: imports are not timed, the first model is). Printed with
the load average, since the development machine is shared. The last line is
`small_lp_speedup_vs_best_peer=<x> transport_speedup_vs_best_peer=<y>` (nl2opt models/s
over the fastest peer's). Peers need the optional extra: pip install -e ".[bench]".
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import time

import numpy as np

SHAPES = ("small_lp", "transport")
TOOLS = ("nl2opt", "cvxpy", "pyomo", "linopy")
SIZE = 20  # transport: SIZE sources x SIZE destinations


# -- data (the same numbers for every tool) ----------------------------------------------------
def small_lp_data(k: int) -> dict:
    """max c1 x + c2 y s.t. x <= a, 2 y <= b, 3 x + 2 y <= r (Wyndor, varied: every
    model differs, so no tool can answer one from another)."""
    rng = np.random.default_rng(k)
    return {"c": np.round(rng.uniform(2, 8, 2), 4), "a": round(rng.uniform(3, 6), 4),
            "b": round(rng.uniform(10, 14), 4), "r": round(rng.uniform(15, 21), 4)}


def transport_data(k: int) -> dict:
    rng = np.random.default_rng(10_000 + k)
    supply = rng.integers(50, 100, SIZE).astype(float)
    demand = rng.integers(20, 45, SIZE).astype(float)
    demand *= 0.9 * supply.sum() / demand.sum()  # feasible: total demand below supply
    cost = rng.integers(1, 30, (SIZE, SIZE)).astype(float)
    return {"supply": supply, "demand": np.round(demand, 3), "cost": cost}


# -- nl2opt --------------------------------------------------------------------------------------
def nl2opt_small_lp(d: dict) -> float:
    import nl2opt

    return nl2opt.solve_formulation({
        "parameters": [{"name": "c1", "value": d["c"][0]}, {"name": "c2", "value": d["c"][1]},
                       {"name": "a", "value": d["a"]}, {"name": "b", "value": d["b"]},
                       {"name": "r", "value": d["r"]}],
        "variables": [{"name": "x"}, {"name": "y"}],
        "objective": {"sense": "maximize", "expression": "c1 * x + c2 * y"},
        "constraints": [{"name": "plant1", "expression": "x <= a"},
                        {"name": "plant2", "expression": "2 * y <= b"},
                        {"name": "plant3", "expression": "3 * x + 2 * y <= r"}],
    }).objective


def nl2opt_transport(d: dict) -> float:
    import nl2opt

    names = [f"n{i}" for i in range(SIZE)]
    return nl2opt.solve_formulation({
        "sets": [{"name": "S", "elements": names}, {"name": "D", "elements": names}],
        "parameters": [
            {"name": "supply", "index": ["S"], "values": dict(zip(names, d["supply"].tolist()))},
            {"name": "demand", "index": ["D"], "values": dict(zip(names, d["demand"].tolist()))},
            {"name": "cost", "index": ["S", "D"],
             "values": {s: dict(zip(names, row)) for s, row in zip(names, d["cost"].tolist())}}],
        "variables": [{"name": "x", "index": ["S", "D"]}],
        "objective": {"sense": "minimize",
                      "expression": "sum(cost[s, d] * x[s, d] for s in S for d in D)"},
        "constraints": [
            {"name": "ship", "forall": ["s in S"],
             "expression": "sum(x[s, d] for d in D) <= supply[s]"},
            {"name": "meet", "forall": ["d in D"],
             "expression": "sum(x[s, d] for s in S) >= demand[d]"}],
    }).objective


# -- cvxpy ---------------------------------------------------------------------------------------
def cvxpy_small_lp(d: dict) -> float:
    import cvxpy as cp

    x, y = cp.Variable(nonneg=True), cp.Variable(nonneg=True)
    problem = cp.Problem(cp.Maximize(d["c"][0] * x + d["c"][1] * y),
                         [x <= d["a"], 2 * y <= d["b"], 3 * x + 2 * y <= d["r"]])
    return problem.solve(solver=cp.HIGHS)


def cvxpy_transport(d: dict) -> float:
    import cvxpy as cp

    x = cp.Variable((SIZE, SIZE), nonneg=True)
    problem = cp.Problem(cp.Minimize(cp.sum(cp.multiply(d["cost"], x))),
                         [cp.sum(x, axis=1) <= d["supply"], cp.sum(x, axis=0) >= d["demand"]])
    return problem.solve(solver=cp.HIGHS)


# -- Pyomo ---------------------------------------------------------------------------------------
def _pyomo_solve(model) -> float:
    from pyomo.contrib.solver.solvers.highs import Highs

    Highs().solve(model)
    import pyomo.environ as pyo

    return pyo.value(model.objective)


def pyomo_small_lp(d: dict) -> float:
    import pyomo.environ as pyo

    m = pyo.ConcreteModel()
    m.x, m.y = pyo.Var(within=pyo.NonNegativeReals), pyo.Var(within=pyo.NonNegativeReals)
    m.objective = pyo.Objective(expr=d["c"][0] * m.x + d["c"][1] * m.y, sense=pyo.maximize)
    m.plant1 = pyo.Constraint(expr=m.x <= d["a"])
    m.plant2 = pyo.Constraint(expr=2 * m.y <= d["b"])
    m.plant3 = pyo.Constraint(expr=3 * m.x + 2 * m.y <= d["r"])
    return _pyomo_solve(m)


def pyomo_transport(d: dict) -> float:
    import pyomo.environ as pyo

    m = pyo.ConcreteModel()
    m.S, m.D = pyo.RangeSet(0, SIZE - 1), pyo.RangeSet(0, SIZE - 1)
    m.x = pyo.Var(m.S, m.D, within=pyo.NonNegativeReals)
    cost, supply, demand = d["cost"].tolist(), d["supply"].tolist(), d["demand"].tolist()
    m.objective = pyo.Objective(expr=sum(cost[s][t] * m.x[s, t] for s in m.S for t in m.D))
    m.ship = pyo.Constraint(m.S, rule=lambda m, s: sum(m.x[s, t] for t in m.D) <= supply[s])
    m.meet = pyo.Constraint(m.D, rule=lambda m, t: sum(m.x[s, t] for s in m.S) >= demand[t])
    return _pyomo_solve(m)


# -- linopy --------------------------------------------------------------------------------------
def linopy_small_lp(d: dict) -> float:
    import linopy

    m = linopy.Model()
    x, y = m.add_variables(lower=0, name="x"), m.add_variables(lower=0, name="y")
    m.add_constraints(x <= d["a"], name="plant1")
    m.add_constraints(2 * y <= d["b"], name="plant2")
    m.add_constraints(3 * x + 2 * y <= d["r"], name="plant3")
    m.add_objective(d["c"][0] * x + d["c"][1] * y, sense="max")
    m.solve(solver_name="highs", output_flag=False)
    return float(m.objective.value)


def linopy_transport(d: dict) -> float:
    import linopy
    import xarray as xr

    m = linopy.Model()
    coords = {"S": np.arange(SIZE), "D": np.arange(SIZE)}
    x = m.add_variables(lower=0, coords=[coords["S"], coords["D"]], dims=["S", "D"], name="x")
    cost = xr.DataArray(d["cost"], coords=coords, dims=["S", "D"])
    m.add_constraints(x.sum("D") <= xr.DataArray(d["supply"], coords={"S": coords["S"]}),
                      name="ship")
    m.add_constraints(x.sum("S") >= xr.DataArray(d["demand"], coords={"D": coords["D"]}),
                      name="meet")
    m.add_objective((cost * x).sum())
    m.solve(solver_name="highs", output_flag=False)
    return float(m.objective.value)


# -- measuring -----------------------------------------------------------------------------------
def work(tool: str, shape: str, count: int) -> dict:
    build = globals()[f"{tool}_{shape}"]
    make = small_lp_data if shape == "small_lp" else transport_data
    datas = [make(k) for k in range(count)]
    _quiet_imports(tool)
    objectives = []
    started, cpu = time.perf_counter(), time.process_time()
    for d in datas:
        objectives.append(float(build(d)))
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu
    return {"wall": wall, "cpu": cpu, "per_s": count / wall, "objectives": objectives}


def _quiet_imports(tool: str) -> None:
    """Imports are not part of the measurement (each tool's first model still is)."""
    if tool == "nl2opt":
        import nl2opt.api  # noqa: F401
        from nl2opt.solvers.highs_direct import new_highs

        new_highs()
    elif tool == "cvxpy":
        import cvxpy  # noqa: F401
    elif tool == "pyomo":
        import pyomo.environ  # noqa: F401
        from pyomo.contrib.solver.solvers.highs import Highs  # noqa: F401
    else:
        import linopy  # noqa: F401


def spawn(tool: str, shape: str, count: int) -> dict:
    command = [sys.executable, __file__, "--worker", tool, shape, "--count", str(count)]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        return {"error": done.stderr.strip().splitlines()[-1] if done.stderr else "failed"}
    return json.loads(done.stdout.strip().splitlines()[-1])


def measure(tool: str, shape: str, args) -> dict:
    count = args.linopy_count if tool == "linopy" else args.count
    runs = [spawn(tool, shape, count) for _ in range(args.processes)]
    failed = [r for r in runs if "error" in r]
    if failed:
        return {"error": failed[0]["error"]}
    rates = [r["per_s"] for r in runs]
    return {"per_s": statistics.median(rates), "rates": rates, "count": count,
            "cpu_per_model_ms": 1000 * statistics.median(r["cpu"] for r in runs) / count,
            "objectives": runs[0]["objectives"]}


def agreement(ours: list[float], theirs: list[float]) -> int:
    return sum(math.isclose(a, b, rel_tol=1e-6, abs_tol=1e-6) for a, b in zip(ours, theirs))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=1000, help="models per shape and tool")
    parser.add_argument("--linopy-count", type=int, default=100,
                        help="models for linopy, which builds a few per second (its rate is "
                             "still models per second; its objectives are checked on these)")
    parser.add_argument("--processes", type=int, default=3, help="fresh processes per figure")
    parser.add_argument("--tools", nargs="+", default=list(TOOLS), choices=TOOLS)
    parser.add_argument("--worker", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(work(*args.worker, args.count)))
        return
    tools = ["nl2opt"] + [t for t in args.tools if t != "nl2opt"]
    print(f"{args.count} models per shape, median of {args.processes} fresh processes each; "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    speedups = {}
    for shape in SHAPES:
        figures = {tool: measure(tool, shape, args) for tool in tools}
        ours = figures["nl2opt"]
        for tool, figure in figures.items():
            if "error" in figure:
                print(f"  {shape:10s} {tool:7s} failed: {figure['error']}")
                continue
            agree = agreement(ours["objectives"], figure["objectives"])
            print(f"  {shape:10s} {tool:7s} {figure['per_s']:8.1f} models/s (runs "
                  f"{', '.join(f'{r:.1f}' for r in figure['rates'])}), CPU "
                  f"{figure['cpu_per_model_ms']:.2f} ms/model, objectives agree "
                  f"{agree}/{figure['count']}")
        peers = [f["per_s"] for t, f in figures.items() if t != "nl2opt" and "error" not in f]
        speedups[shape] = ours["per_s"] / max(peers) if peers else math.nan
    print(f"load average after: {os.getloadavg()[0]:.1f}")
    print(f"small_lp_speedup_vs_best_peer={speedups['small_lp']:.2f} "
          f"transport_speedup_vs_best_peer={speedups['transport']:.2f}")


if __name__ == "__main__":
    main()
