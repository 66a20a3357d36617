"""Independent optima for the synthesis families' small instances.

Each checker reads only the generated *data* (sets and parameter arrays) and
computes the optimum its own way: brute force, a textbook algorithm (dynamic
programming, Dijkstra, max-flow, the Hungarian method) or a separately written
scipy / pyscipopt model. None of them looks at the family's constraints.
"""

from __future__ import annotations

import itertools

import numpy as np
from scipy.optimize import Bounds, LinearConstraint, linear_sum_assignment, linprog, milp
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import dijkstra, maximum_flow

from nl2opt.formulation.data import resolve_data
from nl2opt.formulation.model import Formulation


class Data:
    """Parameter arrays (scalars as floats) and set sizes of a formulation."""

    def __init__(self, formulation: Formulation) -> None:
        resolved = resolve_data(formulation)
        self.sets = {name: s.elements for name, s in resolved.sets.items()}
        self.p = {name: (float(p.values) if not p.index else p.values)
                  for name, p in resolved.params.items()}

    def __getitem__(self, name: str):
        return self.p[name]

    def size(self, name: str) -> int:
        return len(self.sets[name])


def _lp(c, a_ub=None, b_ub=None, a_eq=None, b_eq=None, bounds=(0, None), maximize=False):
    sign = -1 if maximize else 1
    result = linprog(sign * np.asarray(c, float), A_ub=a_ub, b_ub=b_ub, A_eq=a_eq, b_eq=b_eq,
                     bounds=bounds, method="highs")
    assert result.status == 0, result.message
    return sign * result.fun


def _milp(c, rows, lower, upper, integrality, bounds=(0, np.inf), maximize=False):
    sign = -1 if maximize else 1
    result = milp(sign * np.asarray(c, float), constraints=LinearConstraint(rows, lower, upper),
                  integrality=integrality, bounds=Bounds(*bounds))
    assert result.status == 0, result.message
    return sign * result.fun


def _subsets(count: int):
    return itertools.product((0, 1), repeat=count)


# -- packing and selection -------------------------------------------------------------

def knapsack(d: Data) -> float:
    w, v = d["weight"], d["value"]
    return max(np.dot(v, x) for x in _subsets(len(w)) if np.dot(w, x) <= d["capacity"])


def multi_knapsack(d: Data) -> float:
    w, v, cap = d["weight"], d["value"], d["capacity"]
    best = 0.0
    for choice in itertools.product(range(len(cap) + 1), repeat=len(w)):  # 0 = left out
        loads = np.bincount(choice, weights=w, minlength=len(cap) + 1)[1:]
        if np.all(loads <= cap):
            best = max(best, sum(v[i] for i, k in enumerate(choice) if k))
    return best


def bin_packing(d: Data) -> float:
    size, n = d["size"], len(d["size"])
    for bins in range(1, n + 1):
        for choice in itertools.product(range(bins), repeat=n):
            if np.all(np.bincount(choice, weights=size, minlength=bins) <= d["capacity"]):
                return float(bins)
    raise AssertionError("no packing")


def set_cover(d: Data) -> float:
    covers, cost = d["covers"], d["cost"]
    return min(np.dot(cost, x) for x in _subsets(len(cost)) if np.all(covers @ x >= 1))


def set_packing(d: Data) -> float:
    wants, price = d["wants"], d["price"]
    return max(np.dot(price, x) for x in _subsets(len(price)) if np.all(wants @ x <= 1))


def cutting_stock(d: Data) -> float:
    """Gilmore-Gomory: enumerate every cutting pattern, then an integer covering model."""
    width, demand, roll = d["width"], d["demand"], d["roll_width"]
    ranges = [range(int(min(q, roll // w)) + 1) for w, q in zip(width, demand)]
    patterns = [p for p in itertools.product(*ranges) if 0 < np.dot(p, width) <= roll]
    a = np.array(patterns, dtype=float).T
    return _milp(np.ones(a.shape[1]), a, demand, np.inf, np.ones(a.shape[1]))


def assignment(d: Data) -> float:
    rows, cols = linear_sum_assignment(d["cost"])
    return float(d["cost"][rows, cols].sum())


def generalized_assignment(d: Data) -> float:
    cost, load, cap = d["cost"], d["load"], d["capacity"]
    machines, jobs = cost.shape
    best = np.inf
    for choice in itertools.product(range(machines), repeat=jobs):
        used = np.bincount(choice, weights=load[choice, range(jobs)], minlength=machines)
        if np.all(used <= cap):
            best = min(best, cost[choice, range(jobs)].sum())
    return best


def capital_budgeting(d: Data) -> float:
    spend, npv = d["spend"], d["npv"]
    return max(np.dot(npv, x) for x in _subsets(len(npv))
               if np.all(np.asarray(x) @ spend <= d["budget"]))


# -- networks and location --------------------------------------------------------------

def transportation(d: Data) -> float:
    cost = d["cost"]
    s, c = cost.shape
    supply_rows = np.kron(np.eye(s), np.ones(c))
    demand_rows = -np.kron(np.ones(s), np.eye(c))
    return _lp(cost.ravel(), np.vstack([supply_rows, demand_rows]),
               np.r_[d["supply"], -d["demand"]])


def _arcs(matrix: np.ndarray) -> list[tuple[int, int]]:
    return [tuple(a) for a in np.argwhere(matrix > 0)]


def _incidence(arcs, nodes: int) -> np.ndarray:
    """Rows: nodes; +1 where an arc leaves, -1 where it enters."""
    matrix = np.zeros((nodes, len(arcs)))
    for k, (i, j) in enumerate(arcs):
        matrix[i, k], matrix[j, k] = 1, -1
    return matrix


def min_cost_flow(d: Data) -> float:
    arcs = _arcs(d["capacity"])
    cost = [d["cost"][a] for a in arcs]
    return _lp(cost, a_eq=_incidence(arcs, d.size("N")), b_eq=d["supply"],
               bounds=[(0, d["capacity"][a]) for a in arcs])


def max_flow(d: Data) -> float:
    capacity = csr_matrix(d["capacity"].astype(np.int32))
    return float(maximum_flow(capacity, 0, d.size("N") - 1).flow_value)


def shortest_path(d: Data) -> float:
    return float(dijkstra(csr_matrix(d["length"]), indices=0)[-1])


def multicommodity_flow(d: Data) -> float:
    arcs = _arcs(d["capacity"])
    commodities, nodes = d["supply"].shape
    incidence = _incidence(arcs, nodes)
    a_eq = np.kron(np.eye(commodities), incidence)
    a_ub = np.kron(np.ones(commodities), np.eye(len(arcs)))
    cost = np.tile([d["cost"][a] for a in arcs], commodities)
    return _lp(cost, a_ub, [d["capacity"][a] for a in arcs], a_eq, d["supply"].ravel())


def network_design(d: Data) -> float:
    arcs = _arcs(d["capacity"])
    m, n = len(arcs), d.size("N")
    cost = np.r_[[d["unit_cost"][a] for a in arcs], [d["fixed_cost"][a] for a in arcs]]
    balance = np.hstack([_incidence(arcs, n), np.zeros((n, m))])
    linking = np.hstack([np.eye(m), -np.diag([d["capacity"][a] for a in arcs])])
    rows = np.vstack([balance, linking])
    lower = np.r_[d["supply"], np.full(m, -np.inf)]
    upper = np.r_[d["supply"], np.zeros(m)]
    return _milp(cost, rows, lower, upper, np.r_[np.zeros(m), np.ones(m)],
                 (np.zeros(2 * m), np.r_[np.full(m, np.inf), np.ones(m)]))


def _service_cost(d: Data) -> np.ndarray:
    return d["rate"] * d["distance"] * d["demand"][None, :]


def uncapacitated_facility_location(d: Data) -> float:
    service, fixed = _service_cost(d), d["open_cost"]
    return min(np.dot(fixed, x) + service[np.flatnonzero(x)].min(axis=0).sum()
               for x in _subsets(len(fixed)) if any(x))


def capacitated_facility_location(d: Data) -> float:
    service, fixed, cap, demand = _service_cost(d), d["open_cost"], d["capacity"], d["demand"]
    f, c = service.shape
    best = np.inf
    for x in _subsets(f):  # open set fixed: the rest is a transportation LP in shares
        if not any(x) or np.dot(cap, x) < demand.sum():
            continue
        a_ub = np.kron(np.eye(f), demand) * 1.0
        a_eq = np.kron(np.ones(f), np.eye(c))
        bounds = [(0, float(x[s])) for s in range(f) for _ in range(c)]
        best = min(best, np.dot(fixed, x) + _lp(service.ravel(), a_ub, cap * np.asarray(x),
                                                a_eq, np.ones(c), bounds))
    return best


def p_median(d: Data) -> float:
    weighted = d["population"][:, None] * d["distance"]
    towns = d.size("T")
    return min(weighted[:, list(sites)].min(axis=1).sum()
               for sites in itertools.combinations(range(towns), int(d["clinics"])))
