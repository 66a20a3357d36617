"""Independent optima for routing, scheduling, production and nonlinear families
(see synth_checks.py for the approach)."""

from __future__ import annotations

import itertools

import numpy as np
from scipy.optimize import minimize
from synth_checks import Data, _lp, _milp

# -- routing and scheduling --------------------------------------------------------------


def tsp(d: Data) -> float:
    dist, n = d["distance"], d.size("C")
    return min(sum(dist[a, b] for a, b in zip((0, *tour), (*tour, 0)))
               for tour in itertools.permutations(range(1, n)))


def vrp(d: Data) -> float:
    """Every customer order, split optimally into routes (Bellman's split), at most `vans`."""
    dist, demand, cap, vans = d["distance"], d["demand"], d["capacity"], int(d["vans"])
    n = len(demand)
    best = np.inf
    for order in itertools.permutations(range(1, n + 1)):
        # cost[k][v]: least distance serving the first k customers of the order with v routes
        cost = np.full((n + 1, vans + 1), np.inf)
        cost[0, 0] = 0.0
        for end in range(1, n + 1):
            for start in range(end):
                route = order[start:end]
                if sum(demand[c - 1] for c in route) > cap:
                    continue
                length = dist[0, route[0]] + dist[route[-1], 0] + sum(
                    dist[a, b] for a, b in itertools.pairwise(route))
                cost[end, 1:] = np.minimum(cost[end, 1:], cost[start, :-1] + length)
        best = min(best, cost[n].min())
    return best


def _longest_path_schedule(duration, routes, sequences) -> float | None:
    """Makespan of the semi-active schedule, or None if the orders conflict (a cycle)."""
    jobs, machines = duration.shape
    preds = {(j, m): [] for j in range(jobs) for m in range(machines)}
    for j, route in enumerate(routes):
        for a, b in itertools.pairwise(route):
            preds[(j, b)].append((j, a))
    for m, sequence in enumerate(sequences):
        for a, b in itertools.pairwise(sequence):
            preds[(b, m)].append((a, m))
    finish: dict = {}
    for _ in range(jobs * machines):
        for op, before in preds.items():
            if op not in finish and all(p in finish for p in before):
                finish[op] = max((finish[p] for p in before), default=0) + duration[op]
    return max(finish.values()) if len(finish) == jobs * machines else None


def job_shop(d: Data) -> float:
    duration, step = d["duration"], d["step"]
    jobs, machines = duration.shape
    routes = [list(np.argsort(step[j])) for j in range(jobs)]
    spans = (_longest_path_schedule(duration, routes, sequences) for sequences in
             itertools.product(itertools.permutations(range(jobs)), repeat=machines))
    return min(span for span in spans if span is not None)


def flow_shop(d: Data) -> float:
    duration = d["duration"]
    best = np.inf
    for order in itertools.permutations(range(duration.shape[0])):
        finish = np.zeros(duration.shape[1])
        for job in order:
            for m in range(duration.shape[1]):
                finish[m] = max(finish[m], finish[m - 1] if m else 0) + duration[job, m]
        best = min(best, finish[-1])
    return best


def parallel_machines(d: Data) -> float:
    duration, machines = d["duration"], d.size("K")
    return min(np.bincount(choice, weights=duration, minlength=machines).max()
               for choice in itertools.product(range(machines), repeat=len(duration)))


def shift_scheduling(d: Data) -> float:
    covers = d["covers"]
    return _milp(d["wage"], covers, d["need"], np.inf, np.ones(covers.shape[1]))


def workforce(d: Data) -> float:
    available, dislike = d["available"], d["dislike"]
    people, shifts = available.shape
    staffed = np.kron(np.ones(people), np.eye(shifts))
    workload = np.kron(np.eye(people), np.ones(shifts))
    rows = np.vstack([staffed, workload])
    lower = np.r_[d["need"], np.zeros(people)]
    upper = np.r_[np.full(shifts, np.inf), np.full(people, d["max_shifts"])]
    return _milp(dislike.ravel(), rows, lower, upper, np.ones(people * shifts),
                 (0, available.ravel()))


def unit_commitment(d: Data) -> float:
    """Every on/off plan; dispatch each hour by LP; start-up costs from the plan."""
    pmin, pmax, fuel = d["p_min"], d["p_max"], d["fuel_cost"]
    units, hours = len(pmin), len(d["demand"])
    best = np.inf
    for plan in itertools.product(_subsets_of(units), repeat=hours):
        on = np.array(plan)
        if np.any(on @ pmax < d["demand"]) or np.any(on @ pmin > d["demand"]):
            continue
        starts = np.maximum(0, np.diff(np.vstack([np.zeros(units), on]), axis=0)).sum(axis=0)
        total = np.dot(d["no_load_cost"], on.sum(axis=0)) + np.dot(d["startup_cost"], starts)
        for hour, state in enumerate(on):
            total += _lp(fuel, a_eq=[np.ones(units)], b_eq=[d["demand"][hour]],
                         bounds=list(zip(pmin * state, pmax * state)))
        best = min(best, total)
    return best


def _subsets_of(count: int):
    return list(itertools.product((0, 1), repeat=count))


# -- production --------------------------------------------------------------------------

def production_mix(d: Data) -> float:
    return _lp(d["profit"], d["usage"].T, d["available"], maximize=True)


def _stock_balance(products: int, periods: int):
    """Equality rows make - stock + stock_prev = demand, variables [make, stock] per (p, t)."""
    size = products * periods
    rows = np.zeros((size, 2 * size))
    for p in range(products):
        for t in range(periods):
            row = p * periods + t
            rows[row, row], rows[row, size + row] = 1, -1
            if t:
                rows[row, size + row - 1] = 1
    return rows


def production_planning(d: Data) -> float:
    demand = d["demand"]
    products, periods = demand.shape
    size = products * periods
    a_eq = _stock_balance(products, periods)
    hours = np.zeros((periods, 2 * size))
    for p in range(products):
        hours[np.arange(periods), p * periods + np.arange(periods)] = d["hours"][p]
    cost = np.r_[d["unit_cost"].ravel(), np.repeat(d["holding"], periods)]
    return _lp(cost, hours, np.full(periods, d["capacity"]), a_eq, demand.ravel())


def lot_sizing(d: Data) -> float:
    """Wagner-Whitin: the last set-up before period t covers every period up to t."""
    demand, setup, holding = d["demand"], d["setup_cost"], d["holding"]
    periods = len(demand)
    best = np.zeros(periods + 1)
    for t in range(1, periods + 1):
        options = []
        for k in range(t):  # produce in period k for periods k .. t-1
            carry = sum(holding * (j - k) * demand[j] for j in range(k, t))
            options.append(best[k] + (setup if demand[k:t].sum() > 0 else 0) + carry)
        best[t] = min(options)
    return float(best[periods])


def multi_item_lot_sizing(d: Data) -> float:
    demand = d["demand"]
    items, periods = demand.shape
    size = items * periods
    balance = np.hstack([_stock_balance(items, periods), np.zeros((size, size))])
    linking = np.hstack([np.eye(size), np.zeros((size, size)), -d["capacity"] * np.eye(size)])
    machine = np.zeros((periods, 3 * size))
    for i in range(items):
        machine[np.arange(periods), i * periods + np.arange(periods)] = 1
        machine[np.arange(periods), 2 * size + i * periods + np.arange(periods)] = \
            d["setup_time"][i]
    rows = np.vstack([balance, linking, machine])
    lower = np.r_[demand.ravel(), np.full(size + periods, -np.inf)]
    upper = np.r_[demand.ravel(), np.zeros(size), np.full(periods, d["capacity"])]
    cost = np.r_[np.zeros(size), np.repeat(d["holding"], periods),
                 np.repeat(d["setup_cost"], periods)]
    return _milp(cost, rows, lower, upper, np.r_[np.zeros(2 * size), np.ones(size)],
                 (np.zeros(3 * size), np.r_[np.full(2 * size, np.inf), np.ones(size)]))


def inventory_backlog(d: Data) -> float:
    demand = d["demand"]
    periods = len(demand)
    # variables: make, stock, backlog; net[t] = stock[t] - backlog[t] = net[t-1] + make - demand
    a_eq = np.zeros((periods + 1, 3 * periods))
    for t in range(periods):
        a_eq[t, t], a_eq[t, periods + t], a_eq[t, 2 * periods + t] = 1, -1, 1
        if t:
            a_eq[t, periods + t - 1], a_eq[t, 2 * periods + t - 1] = 1, -1
    a_eq[periods, 3 * periods - 1] = 1  # backlog cleared at the end
    cost = np.r_[d["unit_cost"], np.full(periods, d["holding"]),
                 np.full(periods, d["backlog_cost"])]
    bounds = [(0, d["capacity"])] * periods + [(0, None)] * (2 * periods)
    return _lp(cost, a_eq=a_eq, b_eq=np.r_[demand, 0], bounds=bounds)


def diet(d: Data) -> float:
    content = d["content"].T
    return _lp(d["price"], np.vstack([content, -content]), np.r_[d["maximum"], -d["minimum"]],
               bounds=(0, 4))


def blending(d: Data) -> float:
    level, amount = d["level"].T, d["amount"]
    a_ub = np.vstack([level, -level])
    b_ub = np.r_[d["high"] * amount, -d["low"] * amount]
    return _lp(d["cost"], a_ub, b_ub, [np.ones(level.shape[1])], [amount],
               [(0, s) for s in d["supply"]])


# -- nonlinear ---------------------------------------------------------------------------

def portfolio(d: Data) -> float:
    cov, mu = d["covariance"], d["expected_return"]
    n = len(mu)
    result = minimize(lambda w: w @ cov @ w, np.full(n, 1 / n), jac=lambda w: 2 * cov @ w,
                      bounds=[(0, 1)] * n, method="SLSQP", options={"ftol": 1e-12},
                      constraints=[{"type": "eq", "fun": lambda w: w.sum() - 1},
                                   {"type": "ineq", "fun": lambda w: mu @ w - d["target"]}])
    assert result.success, result.message
    return float(result.fun)


def pricing(d: Data) -> float:
    cost, base, slope, cross = (d["unit_cost"], d["base_demand"], d["own_slope"],
                                d["cross_slope"])

    def demand(p):
        return base - slope * p + cross @ p

    start = cost + 1.0
    result = minimize(lambda p: -np.dot(p - cost, demand(p)), start, method="SLSQP",
                      bounds=[(c, None) for c in cost], options={"ftol": 1e-12},
                      constraints=[{"type": "ineq", "fun": demand},
                                   {"type": "ineq", "fun": lambda p: d["capacity"] -
                                    demand(p).sum()}])
    assert result.success, result.message
    return float(-result.fun)


def pooling(d: Data) -> float:
    """A separately written pyscipopt model (SCIP solves the bilinear program globally)."""
    from pyscipopt import Model, quicksum

    model = Model()
    model.hideOutput()
    crudes, bypasses, products = (range(len(d["sulfur"])), range(len(d["direct_sulfur"])),
                                  range(len(d["price"])))
    feed = [model.addVar(lb=0) for _ in crudes]
    out = [model.addVar(lb=0) for _ in products]
    direct = [[model.addVar(lb=0) for _ in products] for _ in bypasses]
    quality = model.addVar(lb=float(d["sulfur"].min()), ub=float(d["sulfur"].max()))
    model.addCons(quicksum(feed) == quicksum(out))
    model.addCons(quality * quicksum(out) == quicksum(d["sulfur"][c] * feed[c] for c in crudes))
    for p in products:
        blend = out[p] + quicksum(direct[b][p] for b in bypasses)
        model.addCons(quality * out[p] + quicksum(d["direct_sulfur"][b] * direct[b][p]
                                                  for b in bypasses)
                      <= d["max_sulfur"][p] * blend)
        model.addCons(blend <= d["demand"][p])
    for b in bypasses:
        model.addCons(quicksum(direct[b]) <= d["direct_supply"][b])
    profit = model.addVar(lb=None)
    model.addCons(profit == quicksum(d["price"][p] * (out[p] + quicksum(direct[b][p] for b in
                                                                        bypasses))
                                     for p in products)
                  - quicksum(d["crude_cost"][c] * feed[c] for c in crudes)
                  - quicksum(d["direct_cost"][b] * direct[b][p] for b in bypasses
                             for p in products))
    model.setObjective(profit, "maximize")
    model.optimize()
    assert model.getStatus() == "optimal"
    return float(model.getObjVal())
