"""Selection, packing and covering families: knapsacks, bins, set cover and packing,
cutting stock, (generalised) assignment and capital budgeting."""

from __future__ import annotations

import numpy as np

from nl2opt.formulation.classify import ProblemClass
from nl2opt.synthesis.build import ModelBuilder, names
from nl2opt.synthesis.family import Family, SizeParam

MILP = ProblemClass.MILP


def knapsack(sizes, rng):
    n = sizes["items"]
    weight = rng.integers(5, 41, n)
    value = rng.integers(10, 101, n)
    m = ModelBuilder("Knapsack", "Choose items of maximum total value whose total weight "
                     "fits the capacity.")
    m.set("I", names("item", n), "items", "item")
    m.param("weight", ["I"], weight, "weight of an item", "kg")
    m.param("value", ["I"], value, "value of an item", "$")
    m.scalar("capacity", int(0.4 * weight.sum()), "weight capacity", "kg")
    m.var("take", ["I"], "binary", "1 if the item is packed")
    m.objective("maximize", "sum(value[i] * take[i] for i in I)", "total value packed")
    m.constraint("capacity_limit", "sum(weight[i] * take[i] for i in I) <= capacity",
                 "packed weight within the capacity")
    return m


def multi_knapsack(sizes, rng):
    n, k = sizes["items"], sizes["knapsacks"]
    weight = rng.integers(5, 41, n)
    value = rng.integers(10, 101, n)
    capacity = rng.integers(int(0.3 * weight.sum() / k) + 5, int(0.6 * weight.sum() / k) + 10, k)
    m = ModelBuilder("Multiple knapsack", "Assign items to knapsacks (each item at most once) "
                     "to maximize the total value packed.")
    m.set("I", names("item", n), "items", "item")
    m.set("K", names("sack", k), "knapsacks", "knapsack")
    m.param("weight", ["I"], weight, "weight of an item", "kg")
    m.param("value", ["I"], value, "value of an item", "$")
    m.param("capacity", ["K"], capacity, "capacity of a knapsack", "kg")
    m.var("put", ["I", "K"], "binary", "1 if the item goes into the knapsack")
    m.objective("maximize", "sum(value[i] * put[i, s] for i in I for s in K)", "value packed")
    m.constraint("once", "sum(put[i, s] for s in K) <= 1", "an item goes into at most one "
                 "knapsack", ["i in I"])
    m.constraint("fits", "sum(weight[i] * put[i, s] for i in I) <= capacity[s]",
                 "each knapsack within its capacity", ["s in K"])
    return m


def bin_packing(sizes, rng):
    n = sizes["items"]
    capacity = int(rng.integers(80, 121))
    size = rng.integers(int(0.1 * capacity), int(0.6 * capacity), n)
    bins = int(min(n, np.ceil(2 * size.sum() / capacity) + 1))
    m = ModelBuilder("Bin packing", "Pack items into as few identical bins as possible.")
    m.set("I", names("item", n), "items", "item")
    m.set("B", range(1, bins + 1), "bins available", "bin")
    m.param("size", ["I"], size, "size of an item", "l")
    m.scalar("capacity", capacity, "capacity of one bin", "l")
    m.var("use", ["B"], "binary", "1 if the bin is used")
    m.var("pack", ["I", "B"], "binary", "1 if the item goes into the bin")
    m.objective("minimize", "sum(use[b] for b in B)", "bins used")
    m.constraint("packed_once", "sum(pack[i, b] for b in B) == 1", "every item is packed "
                 "exactly once", ["i in I"])
    m.constraint("bin_capacity", "sum(size[i] * pack[i, b] for i in I) <= capacity * use[b]",
                 "a used bin holds at most its capacity; an unused bin holds nothing", ["b in B"])
    m.constraint("use_in_order", "use[b] <= use[b - 1]", "bins are used in order (removes "
                 "symmetric solutions)", ["b in B"], "b > 1")
    return m


def _incidence(rng, rows: int, cols: int, density: float) -> np.ndarray:
    """A 0/1 matrix with every row and column covered at least once."""
    matrix = (rng.random((rows, cols)) < density).astype(int)
    matrix[np.arange(rows), rng.integers(0, cols, rows)] = 1
    matrix[rng.integers(0, rows, cols), np.arange(cols)] = 1
    return matrix


def set_cover(sizes, rng):
    e, s = sizes["elements"], sizes["subsets"]
    covers = _incidence(rng, e, s, 0.15)
    m = ModelBuilder("Set cover", "Choose a cheapest collection of service teams such that "
                     "every district is covered by at least one chosen team.")
    m.set("E", names("district", e), "districts to cover", "district")
    m.set("S", names("team", s), "candidate teams", "team")
    m.param("cost", ["S"], rng.integers(1, 21, s), "cost of a team", "k$")
    m.param("covers", ["E", "S"], covers, "1 if the team covers the district", default=0)
    m.var("pick", ["S"], "binary", "1 if the team is chosen")
    m.objective("minimize", "sum(cost[t] * pick[t] for t in S)", "total cost")
    m.constraint("covered", "sum(covers[d, t] * pick[t] for t in S) >= 1",
                 "every district is covered", ["d in E"])
    return m


def set_packing(sizes, rng):
    e, s = sizes["resources"], sizes["bids"]
    uses = _incidence(rng, e, s, 0.2)
    m = ModelBuilder("Set packing", "Accept bids of maximum total value such that no "
                     "resource is sold twice (a combinatorial auction).")
    m.set("R", names("lot", e), "resources for sale", "lot")
    m.set("S", names("bid", s), "bids, each for a bundle of lots", "bid")
    m.param("price", ["S"], rng.integers(5, 60, s), "value of a bid", "k$")
    m.param("wants", ["R", "S"], uses, "1 if the bid includes the lot", default=0)
    m.var("accept", ["S"], "binary", "1 if the bid is accepted")
    m.objective("maximize", "sum(price[b] * accept[b] for b in S)", "revenue")
    m.constraint("sold_once", "sum(wants[r, b] * accept[b] for b in S) <= 1",
                 "each lot goes to at most one accepted bid", ["r in R"])
    return m


def cutting_stock(sizes, rng):
    k = sizes["widths"]
    roll = int(rng.integers(90, 121))
    width = rng.choice(np.arange(15, roll // 2 + 1), k, replace=False)
    demand = rng.integers(1, 4 + sizes["demand_scale"], k)
    rolls = int(sum(np.ceil(demand / (roll // width))))
    m = ModelBuilder("Cutting stock", "Cut ordered pieces from stock rolls of one width using "
                     "as few rolls as possible.")
    m.set("W", names("piece", k), "ordered piece widths", "piece")
    m.set("R", range(1, rolls + 1), "stock rolls available", "roll")
    m.param("width", ["W"], width, "width of a piece", "cm")
    m.param("demand", ["W"], demand, "pieces ordered", "pieces")
    m.scalar("roll_width", roll, "width of a stock roll", "cm")
    m.var("use", ["R"], "binary", "1 if the roll is cut")
    m.var("cut", ["W", "R"], "integer", "pieces of a width cut from the roll")
    m.objective("minimize", "sum(use[r] for r in R)", "rolls used")
    m.constraint("roll_capacity", "sum(width[w] * cut[w, r] for w in W) <= roll_width * use[r]",
                 "pieces cut from a roll fit its width", ["r in R"])
    m.constraint("meet_demand", "sum(cut[w, r] for r in R) >= demand[w]",
                 "every order is met", ["w in W"])
    m.constraint("use_in_order", "use[r] <= use[r - 1]", "rolls are used in order",
                 ["r in R"], "r > 1")
    return m


def assignment(sizes, rng):
    n = sizes["workers"]
    m = ModelBuilder("Assignment", "Assign each worker to exactly one task and each task to "
                     "exactly one worker at minimum total cost.")
    m.set("W", names("worker", n), "workers", "worker")
    m.set("T", names("task", n), "tasks", "task")
    m.param("cost", ["W", "T"], rng.integers(5, 60, (n, n)), "cost of a worker doing a "
            "task", "$")
    m.var("assign", ["W", "T"], "binary", "1 if the worker does the task")
    m.objective("minimize", "sum(cost[w, t] * assign[w, t] for w in W for t in T)",
                "total cost")
    m.constraint("one_task", "sum(assign[w, t] for t in T) == 1", "each worker does one "
                 "task", ["w in W"])
    m.constraint("one_worker", "sum(assign[w, t] for w in W) == 1", "each task gets one "
                 "worker", ["t in T"])
    return m


def generalized_assignment(sizes, rng):
    a, n = sizes["machines"], sizes["jobs"]
    load = rng.integers(5, 26, (a, n))
    plan = rng.integers(0, a, n)  # a feasible assignment the capacities must allow
    planned = np.bincount(plan, weights=load[plan, np.arange(n)], minlength=a)
    capacity = np.maximum(np.ceil(0.8 * load.sum(axis=1) / a), planned).astype(int)
    m = ModelBuilder("Generalised assignment", "Assign every job to one machine, within each "
                     "machine's capacity, at minimum total cost.")
    m.set("M", names("machine", a), "machines", "machine")
    m.set("J", names("job", n), "jobs", "job")
    m.param("cost", ["M", "J"], rng.integers(10, 51, (a, n)), "cost of a job on a machine",
            "$")
    m.param("load", ["M", "J"], load, "hours a job takes on a machine", "h")
    m.param("capacity", ["M"], capacity, "hours available on a machine", "h")
    m.var("assign", ["M", "J"], "binary", "1 if the job runs on the machine")
    m.objective("minimize", "sum(cost[k, j] * assign[k, j] for k in M for j in J)",
                "total cost")
    m.constraint("assigned", "sum(assign[k, j] for k in M) == 1", "every job gets one "
                 "machine", ["j in J"])
    m.constraint("machine_hours", "sum(load[k, j] * assign[k, j] for j in J) <= capacity[k]",
                 "machine hours within capacity", ["k in M"])
    return m


def capital_budgeting(sizes, rng):
    n, t = sizes["projects"], sizes["years"]
    spend = rng.integers(5, 40, (n, t))
    m = ModelBuilder("Capital budgeting", "Select projects of maximum net present value "
                     "within the yearly budgets.")
    m.set("P", names("project", n), "candidate projects", "project")
    m.set("Y", range(1, t + 1), "budget years", "year")
    m.param("npv", ["P"], rng.integers(20, 120, n), "net present value of a project", "k$")
    m.param("spend", ["P", "Y"], spend, "money a project needs in a year", "k$")
    m.param("budget", ["Y"], (0.45 * spend.sum(axis=0)).astype(int), "budget of a year",
            "k$")
    m.var("select", ["P"], "binary", "1 if the project is funded")
    m.objective("maximize", "sum(npv[p] * select[p] for p in P)", "total net present value")
    m.constraint("yearly_budget", "sum(spend[p, y] * select[p] for p in P) <= budget[y]",
                 "spending within each year's budget", ["y in Y"])
    return m


FAMILIES = [
    Family("knapsack", "0-1 knapsack", MILP, "logistics",
           (SizeParam("items", 4, 400, "number of items"),), knapsack,
           "A hiker can carry 15 kg. A tent weighs 6 kg and is worth 9 points to her, a stove "
           "4 kg (7 points), a camera 3 kg (5 points) and a book 5 kg (4 points). Which items "
           "should she pack to maximise the points without exceeding 15 kg?"),
    Family("multi_knapsack", "Multiple knapsack", MILP, "logistics",
           (SizeParam("items", 4, 150, "number of items"),
            SizeParam("knapsacks", 2, 10, "number of knapsacks")), multi_knapsack,
           "Two delivery vans carry 50 kg and 40 kg. Six parcels weigh 20, 18, 25, 12, 30 "
           "and 8 kg and earn 40, 35, 60, 20, 55 and 15 dollars if delivered today. Each "
           "parcel travels in at most one van. Which parcels go in which van to earn most?"),
    Family("bin_packing", "Bin packing", MILP, "logistics",
           (SizeParam("items", 4, 40, "number of items"),), bin_packing,
           "Boxes of 40, 35, 30, 25, 20 and 15 litres must be shipped in containers holding "
           "80 litres each. How few containers are needed?"),
    Family("set_cover", "Set cover", MILP, "public services",
           (SizeParam("elements", 4, 300, "districts to cover"),
            SizeParam("subsets", 4, 150, "candidate teams")), set_cover,
           "Four ambulance stations can be opened at costs 5, 4, 6 and 3. Station A covers "
           "districts 1 and 2, B covers 2 and 3, C covers 1, 3 and 4, D covers 4. Which "
           "stations should open so that every district is covered at least cost?"),
    Family("set_packing", "Set packing (combinatorial auction)", MILP, "auctions",
           (SizeParam("resources", 4, 300, "lots for sale"),
            SizeParam("bids", 4, 200, "bids received")), set_packing,
           "An auctioneer sells lots A, B and C. Bid 1 offers 10 for A and B, bid 2 offers 7 "
           "for B and C, bid 3 offers 4 for A alone and bid 4 offers 5 for C alone. No lot "
           "can be sold twice. Which bids should be accepted to maximise revenue?"),
    Family("cutting_stock", "Cutting stock", MILP, "manufacturing",
           (SizeParam("widths", 2, 8, "ordered piece widths"),
            SizeParam("demand_scale", 0, 8, "how many pieces of each width are ordered")),
           cutting_stock,
           "A paper mill has rolls 100 cm wide. Customers ordered 4 pieces 45 cm wide, 3 "
           "pieces 30 cm wide and 5 pieces 20 cm wide. How few rolls must be cut?"),
    Family("assignment", "Assignment", MILP, "staffing",
           (SizeParam("workers", 3, 80, "workers (and as many tasks)"),), assignment,
           "Three translators can each take one of three documents. Anna charges 40, 55 and "
           "30 for documents 1 to 3, Ben 35, 45 and 50, Chen 60, 40 and 45. Who should "
           "translate which document to minimise the total fee?"),
    Family("generalized_assignment", "Generalised assignment", MILP, "manufacturing",
           (SizeParam("machines", 2, 12, "machines"), SizeParam("jobs", 3, 80, "jobs")),
           generalized_assignment,
           "Four print jobs must each go to one of two printers. Printer 1 has 10 hours and "
           "printer 2 has 8 hours today; job hours differ by printer (job 1: 3 or 4 hours, job "
           "2: 5 or 3, job 3: 4 or 4, job 4: 2 or 3) and so do costs (20/25, 30/22, 28/30, "
           "15/18 dollars). Assign the jobs at least cost."),
    Family("capital_budgeting", "Capital budgeting", MILP, "finance",
           (SizeParam("projects", 3, 200, "candidate projects"),
            SizeParam("years", 1, 10, "budget years")), capital_budgeting,
           "A city can fund three projects: a park (NPV 50, costs 20 this year and 10 next), "
           "a library (NPV 70, costs 30 and 20) and a bike lane (NPV 30, costs 10 and 10). "
           "Budgets are 45 this year and 30 next. Which projects maximise total NPV?"),
]
