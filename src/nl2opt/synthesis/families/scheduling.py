"""Routing and scheduling families: TSP, capacitated VRP, job shop, flow shop, parallel
machines, shift staffing, workforce assignment and unit commitment."""

from __future__ import annotations

import numpy as np

from nl2opt.formulation.classify import ProblemClass
from nl2opt.synthesis.build import ModelBuilder, names
from nl2opt.synthesis.families.network import distances
from nl2opt.synthesis.family import Family, SizeParam

MILP = ProblemClass.MILP


def tsp(sizes, rng):
    n = sizes["cities"]
    m = ModelBuilder("Travelling salesman (MTZ)", "Visit every city once and return to the "
                     "start along the shortest tour; subtours are excluded with "
                     "Miller-Tucker-Zemlin order variables.")
    cities = m.set("C", names("city", n), "cities (the tour starts at city1)", "city")
    m.set("V", cities[1:], "cities other than the start", "stop")
    m.param("distance", ["C", "C"], distances(rng, n, n) * (1 - np.eye(n, dtype=int)),
            "distance between two cities", "km", default=0)
    m.scalar("stops", n - 1, "cities other than the start")
    m.var("travel", ["C", "C"], "binary", "1 if the tour goes directly from one city to "
          "another")
    m.var("order", ["V"], "continuous", "position of a city in the tour", lower=1,
          upper="stops")
    m.objective("minimize", "sum(distance[i, j] * travel[i, j] for i in C for j in C if "
                "i != j)", "tour length")
    m.constraint("leave", "sum(travel[i, j] for j in C if j != i) == 1", "leave every city "
                 "once", ["i in C"])
    m.constraint("enter", "sum(travel[i, j] for i in C if i != j) == 1", "enter every city "
                 "once", ["j in C"])
    m.constraint("no_loop", "travel[i, i] == 0", "no city to itself", ["i in C"])
    m.constraint("no_subtour", "order[i] - order[j] + stops * travel[i, j] <= stops - 1",
                 "a city visited right after another comes later in the tour",
                 ["i in V", "j in V"], "i != j")
    return m


def vrp(sizes, rng):
    n = sizes["customers"]
    demand = rng.integers(1, 10, n)
    capacity = int(max(demand.max(), rng.integers(12, 25)))
    vehicles = int(min(n, np.ceil(2 * demand.sum() / capacity) + 1))
    m = ModelBuilder("Capacitated vehicle routing", "Vans leave the depot, serve every "
                     "customer once within their capacity and return; minimise the total "
                     "distance.")
    places = m.set("L", ["depot", *names("customer", n)], "the depot and the customers",
                   "place")
    m.set("V", places[1:], "customers", "customer")
    m.param("distance", ["L", "L"], distances(rng, n + 1, n + 1) * (1 - np.eye(n + 1,
                                                                                  dtype=int)),
            "distance between two places", "km", default=0)
    m.param("demand", ["V"], demand, "customer demand", "crates")
    m.scalar("capacity", capacity, "capacity of a van", "crates")
    m.scalar("vans", vehicles, "vans available")
    m.var("drive", ["L", "L"], "binary", "1 if a van drives directly between two places")
    m.var("load", ["V"], "continuous", "crates delivered on a van's route up to and including "
          "this customer", lower="demand[V]", upper="capacity")
    m.objective("minimize", "sum(distance[i, j] * drive[i, j] for i in L for j in L if "
                "i != j)", "total distance")
    m.constraint("visit_in", "sum(drive[i, j] for i in L if i != j) == 1", "each customer "
                 "is entered once", ["j in V"])
    m.constraint("visit_out", "sum(drive[i, j] for j in L if j != i) == 1", "each customer "
                 "is left once", ["i in V"])
    m.constraint("no_loop", "drive[i, i] == 0", "no place to itself", ["i in L"])
    m.constraint("fleet", "sum(drive['depot', j] for j in V) <= vans", "at most the available "
                 "vans leave the depot")
    m.constraint("vans_return", "sum(drive['depot', j] for j in V) == sum(drive[i, 'depot'] for i "
                 "in V)", "every van returns")
    m.constraint("capacity_flow", "load[j] >= load[i] + demand[j] - capacity * (1 - "
                 "drive[i, j])", "load grows along a route (also excludes subtours)",
                 ["i in V", "j in V"], "i != j")
    return m


def job_shop(sizes, rng):
    nj, nm = sizes["jobs"], sizes["machines"]
    duration = rng.integers(1, 10, (nj, nm))
    rank = np.array([rng.permutation(nm) + 1 for _ in range(nj)])
    m = ModelBuilder("Job shop (makespan)", "Each job visits every machine once in its own "
                     "order; a machine does one job at a time. Minimise the makespan.")
    m.set("J", range(1, nj + 1), "jobs", "job")
    m.set("M", range(1, nm + 1), "machines", "machine")
    m.param("duration", ["J", "M"], duration, "processing time of a job on a machine", "h")
    m.param("step", ["J", "M"], rank, "position of the machine in the job's route")
    m.scalar("horizon", int(duration.sum()), "an upper bound on any schedule's length (h)")
    m.var("start", ["J", "M"], "continuous", "start time of a job on a machine")
    m.var("first", ["J", "J", "M"], "binary", "1 if the first job precedes the second on the "
          "machine")
    m.var("makespan", [], "continuous", "completion time of the last operation")
    m.objective("minimize", "makespan", "makespan")
    m.constraint("route", "start[j, b] >= start[j, a] + duration[j, a]", "a job's next "
                 "machine starts after the previous one finishes",
                 ["j in J", "a in M", "b in M"], "step[j, b] == step[j, a] + 1")
    m.constraint("before", "start[k, a] >= start[j, a] + duration[j, a] - horizon * "
                 "(1 - first[j, k, a])", "if j goes first, k starts after j ends",
                 ["j in J", "k in J", "a in M"], "j < k")
    m.constraint("after", "start[j, a] >= start[k, a] + duration[k, a] - horizon * "
                 "first[j, k, a]", "otherwise j starts after k ends",
                 ["j in J", "k in J", "a in M"], "j < k")
    m.constraint("finish", "makespan >= start[j, a] + duration[j, a]", "the makespan covers "
                 "every operation", ["j in J", "a in M"])
    return m


def flow_shop(sizes, rng):
    nj, nm = sizes["jobs"], sizes["machines"]
    duration = rng.integers(1, 10, (nj, nm))
    m = ModelBuilder("Permutation flow shop (makespan)", "Jobs pass machines 1, 2, ... in "
                     "order, in the same job sequence on every machine. Minimise the "
                     "makespan.")
    m.set("J", range(1, nj + 1), "jobs", "job")
    m.set("M", range(1, nm + 1), "machines in line order", "machine")
    m.param("duration", ["J", "M"], duration, "processing time", "min")
    m.scalar("horizon", int(duration.sum()), "an upper bound on any schedule's length (min)")
    m.var("finish", ["J", "M"], "continuous", "completion time of a job on a machine")
    m.var("first", ["J", "J"], "binary", "1 if the first job comes before the second")
    m.var("makespan", [], "continuous", "completion time of the last job")
    m.objective("minimize", "makespan", "makespan")
    m.constraint("first_machine", "finish[j, 1] >= duration[j, 1]", "processing on the first "
                 "machine takes its time", ["j in J"])
    m.constraint("line", "finish[j, a] >= finish[j, a - 1] + duration[j, a]", "a job moves "
                 "down the line in order", ["j in J", "a in M"], "a > 1")
    m.constraint("before", "finish[k, a] >= finish[j, a] + duration[k, a] - horizon * "
                 "(1 - first[j, k])", "if j goes first, k finishes after it",
                 ["j in J", "k in J", "a in M"], "j < k")
    m.constraint("after", "finish[j, a] >= finish[k, a] + duration[j, a] - horizon * "
                 "first[j, k]", "otherwise j finishes after k", ["j in J", "k in J", "a in M"],
                 "j < k")
    m.constraint("last", "makespan >= finish[j, a]", "the makespan covers every job",
                 ["j in J", "a in M"])
    return m


def parallel_machines(sizes, rng):
    nj, nm = sizes["jobs"], sizes["machines"]
    m = ModelBuilder("Identical parallel machines (makespan)", "Spread jobs over identical "
                     "machines so that the busiest machine finishes as early as possible.")
    m.set("J", names("job", nj), "jobs", "job")
    m.set("K", names("machine", nm), "machines", "machine")
    m.param("duration", ["J"], rng.integers(2, 30, nj), "processing time of a job", "min")
    m.var("run", ["J", "K"], "binary", "1 if the job runs on the machine")
    m.var("makespan", [], "continuous", "finishing time of the busiest machine")
    m.objective("minimize", "makespan", "makespan")
    m.constraint("assigned", "sum(run[j, k] for k in K) == 1", "every job runs once",
                 ["j in J"])
    m.constraint("machine_load", "sum(duration[j] * run[j, k] for j in J) <= makespan",
                 "every machine finishes by the makespan", ["k in K"])
    return m


def shift_scheduling(sizes, rng):
    periods, shifts, length = sizes["periods"], sizes["shifts"], sizes["shift_length"]
    length = min(length, periods)
    starts = rng.choice(periods, min(shifts, periods), replace=False)
    cover = np.zeros((periods, len(starts)), dtype=int)
    for column, start in enumerate(starts):
        cover[(start + np.arange(length)) % periods, column] = 1
    covered = cover.any(axis=1)
    need = np.where(covered, rng.integers(1, 9, periods), 0)
    m = ModelBuilder("Shift scheduling (cyclic staffing)", "Decide how many staff work each "
                     "shift so that every period has enough staff, at least cost.")
    m.set("T", range(1, periods + 1), "periods of the day", "period")
    m.set("S", names("shift", len(starts)), "shifts", "shift")
    m.param("need", ["T"], need, "staff needed in a period", "people")
    m.param("covers", ["T", "S"], cover, "1 if the shift works in the period", default=0)
    m.param("wage", ["S"], rng.integers(80, 160, len(starts)), "cost of one person on the "
            "shift", "$")
    m.var("staff", ["S"], "integer", "people on the shift")
    m.objective("minimize", "sum(wage[s] * staff[s] for s in S)", "wage bill")
    m.constraint("coverage", "sum(covers[t, s] * staff[s] for s in S) >= need[t]",
                 "enough staff in every period", ["t in T"])
    return m


def workforce(sizes, rng):
    ne, ns = sizes["employees"], sizes["shifts"]
    need = rng.integers(1, max(2, ne // 2), ns)
    available = (rng.random((ne, ns)) < 0.5).astype(int)
    load = np.zeros(ne, dtype=int)
    for s in range(ns):  # a feasible plan, least-loaded first, which availability must allow
        chosen = np.argsort(load + rng.random(ne))[: need[s]]
        available[chosen, s] = 1
        load[chosen] += 1
    m = ModelBuilder("Workforce assignment", "Assign available employees to shifts so each "
                     "shift is staffed, nobody works too many shifts, and the total "
                     "dislike is least.")
    m.set("E", names("employee", ne), "employees", "employee")
    m.set("S", names("shift", ns), "shifts of the week", "shift")
    m.param("need", ["S"], need, "employees a shift needs", "people")
    m.param("available", ["E", "S"], available, "1 if the employee can work the shift",
            default=0)
    m.param("dislike", ["E", "S"], rng.integers(0, 10, (ne, ns)), "how much the employee "
            "dislikes the shift")
    m.scalar("max_shifts", int(load.max()), "most shifts one employee may work")
    m.var("work", ["E", "S"], "binary", "1 if the employee works the shift")
    m.objective("minimize", "sum(dislike[e, s] * work[e, s] for e in E for s in S)",
                "total dislike")
    m.constraint("staffed", "sum(work[e, s] for e in E) >= need[s]", "every shift has enough "
                 "people", ["s in S"])
    m.constraint("workload", "sum(work[e, s] for s in S) <= max_shifts", "nobody works too "
                 "many shifts", ["e in E"])
    m.constraint("availability", "work[e, s] <= available[e, s]", "only shifts the employee "
                 "is available for", ["e in E", "s in S"])
    return m


def unit_commitment(sizes, rng):
    ng, nt = sizes["generators"], sizes["hours"]
    pmax = rng.integers(50, 200, ng)
    pmin = np.ceil(pmax * rng.uniform(0.1, 0.3, ng)).astype(int)
    demand = rng.integers(int(max(pmin.sum(), 0.3 * pmax.sum())), int(0.9 * pmax.sum()), nt)
    m = ModelBuilder("Unit commitment", "Decide which generators run each hour and how much "
                     "they produce to meet demand at least fuel, no-load and start-up cost.")
    m.set("G", names("unit", ng), "generating units", "unit")
    m.set("H", range(1, nt + 1), "hours", "hour")
    m.param("demand", ["H"], demand, "electricity demand", "MW")
    m.param("p_min", ["G"], pmin, "minimum output of a running unit", "MW")
    m.param("p_max", ["G"], pmax, "maximum output", "MW")
    m.param("fuel_cost", ["G"], rng.integers(10, 40, ng), "cost per MWh", "$/MWh")
    m.param("no_load_cost", ["G"], rng.integers(50, 200, ng), "cost per hour of running", "$")
    m.param("startup_cost", ["G"], rng.integers(100, 500, ng), "cost of a start", "$")
    m.var("on", ["G", "H"], "binary", "1 if the unit runs in the hour")
    m.var("start", ["G", "H"], "binary", "1 if the unit starts in the hour")
    m.var("output", ["G", "H"], "continuous", "power produced", upper="p_max[G]")
    m.objective("minimize", "sum(fuel_cost[g] * output[g, h] + no_load_cost[g] * on[g, h] + "
                "startup_cost[g] * start[g, h] for g in G for h in H)", "operating cost")
    m.constraint("meet_demand", "sum(output[g, h] for g in G) == demand[h]", "production "
                 "meets demand", ["h in H"])
    m.constraint("min_output", "output[g, h] >= p_min[g] * on[g, h]", "a running unit "
                 "produces at least its minimum", ["g in G", "h in H"])
    m.constraint("max_output", "output[g, h] <= p_max[g] * on[g, h]", "only running units "
                 "produce", ["g in G", "h in H"])
    m.constraint("first_start", "start[g, 1] >= on[g, 1]", "units are off before the first "
                 "hour", ["g in G"])
    m.constraint("starts", "start[g, h] >= on[g, h] - on[g, h - 1]", "switching on is a "
                 "start", ["g in G", "h in H"], "h > 1")
    return m


FAMILIES = [
    Family("tsp", "Travelling salesman (MTZ)", MILP, "routing",
           (SizeParam("cities", 4, 20, "cities"),), tsp,
           "A sales rep based in Lyon must visit Dijon, Grenoble and Annecy once each and "
           "come back. Road distances between the four cities are known. Which round trip is "
           "shortest?"),
    Family("vrp", "Capacitated vehicle routing", MILP, "routing",
           (SizeParam("customers", 3, 12, "customers"),), vrp,
           "A dairy delivers from its depot to five shops needing 4, 6, 3, 5 and 2 crates, "
           "with vans holding 10 crates. Distances between all places are known. Plan van "
           "routes covering all shops with the least total distance."),
    Family("job_shop", "Job shop (makespan)", MILP, "manufacturing",
           (SizeParam("jobs", 2, 8, "jobs"), SizeParam("machines", 2, 5, "machines")),
           job_shop,
           "Three orders each need the lathe, the mill and the drill, in different orders "
           "and for different times. A machine handles one order at a time. Schedule the "
           "orders to finish everything as early as possible."),
    Family("flow_shop", "Permutation flow shop (makespan)", MILP, "manufacturing",
           (SizeParam("jobs", 2, 10, "jobs"), SizeParam("machines", 2, 6, "machines")),
           flow_shop,
           "Four print orders go through printing then binding, in the same sequence on both "
           "machines. Printing takes 3, 5, 2 and 4 hours and binding 4, 1, 3 and 2 hours. "
           "Which sequence finishes soonest?"),
    Family("parallel_machines", "Identical parallel machines (makespan)", MILP,
           "manufacturing", (SizeParam("jobs", 3, 40, "jobs"),
                             SizeParam("machines", 2, 8, "machines")), parallel_machines,
           "Seven batches taking 5, 8, 3, 9, 4, 6 and 7 hours must be split between two "
           "identical ovens. How should they be split so the later oven finishes soonest?"),
    Family("shift_scheduling", "Shift scheduling (cyclic staffing)", MILP, "staffing",
           (SizeParam("periods", 4, 48, "periods of the day"),
            SizeParam("shifts", 2, 40, "shift types"),
            SizeParam("shift_length", 2, 8, "periods a shift lasts")), shift_scheduling,
           "A call centre needs at least 4, 8, 10 and 6 agents in its four 6-hour blocks. "
           "Shifts last 12 hours and start at the beginning of any block; a shift costs 200 "
           "dollars per agent. How many agents should start in each block?"),
    Family("workforce", "Workforce assignment", MILP, "staffing",
           (SizeParam("employees", 3, 40, "employees"), SizeParam("shifts", 2, 40, "shifts")),
           workforce,
           "Four nurses cover three night shifts; each shift needs two nurses and each nurse "
           "works at most two shifts, only when available. Nurses rated how much they "
           "dislike each shift. Make the roster with the least total dislike."),
    Family("unit_commitment", "Unit commitment", MILP, "energy",
           (SizeParam("generators", 2, 12, "generating units"),
            SizeParam("hours", 2, 48, "hours")), unit_commitment,
           "Two power plants must meet demand of 150, 300 and 200 MW over three hours. The "
           "coal plant produces 50 to 250 MW at 20 $/MWh and costs 400 to start; the gas "
           "plant 20 to 150 MW at 35 $/MWh and 100 to start. Which plants run when?"),
]
