"""Network and location families: transportation, flows, paths, network design and
facility location. Graphs keep arc data over node pairs with default 0 (no arc)."""

from __future__ import annotations

import numpy as np

from nl2opt.formulation.classify import ProblemClass
from nl2opt.synthesis.build import ModelBuilder, names
from nl2opt.synthesis.family import Family, SizeParam

LP, MILP = ProblemClass.LP, ProblemClass.MILP


def random_arcs(rng, nodes: int, density: float) -> np.ndarray:
    """A 0/1 arc matrix: a two-way chain through all nodes (so every node reaches every
    other) plus random one-way arcs."""
    arcs = (rng.random((nodes, nodes)) < density).astype(int)
    chain = np.arange(nodes - 1)
    arcs[chain, chain + 1] = 1
    arcs[chain + 1, chain] = 1
    np.fill_diagonal(arcs, 0)
    return arcs


def distances(rng, rows: int, cols: int) -> np.ndarray:
    """Rounded Euclidean distances between random points on a 100 x 100 map."""
    a, b = rng.uniform(0, 100, (rows, 2)), rng.uniform(0, 100, (cols, 2))
    return np.rint(np.hypot(*(a[:, None, :] - b[None, :, :]).transpose(2, 0, 1))).astype(int)


def _graph(m: ModelBuilder, nodes: int) -> None:
    m.set("N", names("n", nodes), "nodes of the network", "node")


def _arc_capacity(m: ModelBuilder) -> None:
    m.constraint("arc_capacity", "flow[i, j] <= capacity[i, j]", "flow within the arc's "
                 "capacity (zero where there is no arc)", ["i in N", "j in N"])


def transportation(sizes, rng):
    s, c = sizes["sources"], sizes["customers"]
    demand = rng.integers(10, 60, c)
    share = rng.dirichlet(np.ones(s))
    supply = np.ceil(share * demand.sum() * 1.25).astype(int) + 5
    m = ModelBuilder("Transportation", "Ship goods from plants to customers at least cost, "
                     "within plant supplies and meeting every demand.")
    m.set("S", names("plant", s), "plants", "plant")
    m.set("C", names("customer", c), "customers", "customer")
    m.param("supply", ["S"], supply, "units a plant can ship", "units")
    m.param("demand", ["C"], demand, "units a customer needs", "units")
    m.param("cost", ["S", "C"], rng.integers(2, 30, (s, c)), "shipping cost per unit",
            "$/unit")
    m.var("ship", ["S", "C"], "continuous", "units shipped from a plant to a customer")
    m.objective("minimize", "sum(cost[p, k] * ship[p, k] for p in S for k in C)",
                "total shipping cost")
    m.constraint("plant_supply", "sum(ship[p, k] for k in C) <= supply[p]",
                 "a plant ships at most its supply", ["p in S"])
    m.constraint("customer_demand", "sum(ship[p, k] for p in S) >= demand[k]",
                 "every customer receives its demand", ["k in C"])
    return m


def min_cost_flow(sizes, rng):
    n = sizes["nodes"]
    arcs = random_arcs(rng, n, sizes["density_pct"] / 100)
    supply = np.zeros(n, dtype=int)
    order = rng.permutation(n)
    sources, sinks = order[: max(1, n // 4)], order[max(1, n // 4): max(2, n // 2)]
    supply[sources] = rng.integers(10, 40, len(sources))
    total = supply.sum()
    supply[sinks] = -np.diff(np.r_[0, np.sort(rng.choice(np.arange(1, total), len(sinks) - 1,
                                                         replace=False)), total])
    capacity = arcs * rng.integers(10, 40, (n, n))
    chain = np.arange(n - 1)
    capacity[chain, chain + 1] = capacity[chain + 1, chain] = total  # always feasible
    m = ModelBuilder("Minimum-cost flow (transshipment)", "Route goods from supply nodes "
                     "through the network to demand nodes at least cost.")
    _graph(m, n)
    m.param("supply", ["N"], supply, "net supply of a node (negative: demand)", "units",
            default=0)
    m.param("capacity", ["N", "N"], capacity, "capacity of an arc (0: no arc)", "units",
            default=0)
    m.param("cost", ["N", "N"], arcs * rng.integers(1, 20, (n, n)), "cost per unit on an arc",
            "$/unit", default=0)
    m.var("flow", ["N", "N"], "continuous", "units sent along an arc")
    m.objective("minimize", "sum(cost[i, j] * flow[i, j] for i in N for j in N)",
                "total transport cost")
    _arc_capacity(m)
    m.constraint("balance", "sum(flow[i, j] for j in N) - sum(flow[j, i] for j in N) == "
                 "supply[i]", "outflow minus inflow equals the node's net supply", ["i in N"])
    return m


def max_flow(sizes, rng):
    n = sizes["nodes"]
    arcs = random_arcs(rng, n, sizes["density_pct"] / 100)
    sign = np.zeros(n, dtype=int)
    sign[0], sign[-1] = -1, 1
    m = ModelBuilder("Maximum flow", f"Send as much as possible from n1 to n{n} through a "
                     "network with arc capacities.")
    _graph(m, n)
    m.param("capacity", ["N", "N"], arcs * rng.integers(1, 30, (n, n)),
            "capacity of an arc (0: no arc)", "units/h", default=0)
    m.param("role", ["N"], sign, "-1 for the source, 1 for the sink, 0 otherwise", default=0)
    m.var("flow", ["N", "N"], "continuous", "flow along an arc")
    m.var("throughput", [], "continuous", "flow from the source to the sink")
    m.objective("maximize", "throughput", "flow delivered to the sink")
    _arc_capacity(m)
    m.constraint("conservation", "sum(flow[j, i] for j in N) - sum(flow[i, j] for j in N) == "
                 "role[i] * throughput", "inflow minus outflow: the throughput at the sink, "
                 "minus it at the source, zero elsewhere", ["i in N"])
    return m


def shortest_path(sizes, rng):
    n = sizes["nodes"]
    arcs = random_arcs(rng, n, sizes["density_pct"] / 100)
    sign = np.zeros(n, dtype=int)
    sign[0], sign[-1] = 1, -1
    m = ModelBuilder("Shortest path", f"Find the shortest route from n1 to n{n}.")
    _graph(m, n)
    m.param("length", ["N", "N"], arcs * rng.integers(1, 50, (n, n)), "length of a road",
            "km", default=0)
    m.param("road", ["N", "N"], arcs, "1 if there is a road from one node to another",
            default=0)
    m.param("net_out", ["N"], sign, "1 at the start, -1 at the destination, 0 otherwise",
            default=0)
    m.var("use", ["N", "N"], "binary", "1 if the route uses the road")
    m.objective("minimize", "sum(length[i, j] * use[i, j] for i in N for j in N)",
                "route length")
    m.constraint("path", "sum(use[i, j] for j in N) - sum(use[j, i] for j in N) == net_out[i]",
                 "the route leaves the start, enters the destination and passes through "
                 "other nodes", ["i in N"])
    m.constraint("roads_only", "use[i, j] <= road[i, j]", "only existing roads are used",
                 ["i in N", "j in N"])
    return m


def multicommodity_flow(sizes, rng):
    n, k = sizes["nodes"], sizes["commodities"]
    arcs = random_arcs(rng, n, sizes["density_pct"] / 100)
    supply = np.zeros((k, n), dtype=int)
    amount = rng.integers(5, 20, k)
    for c in range(k):
        origin, destination = rng.choice(n, 2, replace=False)
        supply[c, origin], supply[c, destination] = amount[c], -amount[c]
    capacity = arcs * rng.integers(5, 25, (n, n))
    chain = np.arange(n - 1)
    capacity[chain, chain + 1] = capacity[chain + 1, chain] = amount.sum()
    m = ModelBuilder("Multi-commodity flow", "Route several commodities, each from its origin "
                     "to its destination, through shared arc capacities at least cost.")
    _graph(m, n)
    m.set("K", names("commodity", k), "commodities", "commodity")
    m.param("supply", ["K", "N"], supply, "net supply of a commodity at a node", "units",
            default=0)
    m.param("capacity", ["N", "N"], capacity, "capacity of an arc, shared by all "
            "commodities (0: no arc)", "units", default=0)
    m.param("cost", ["N", "N"], arcs * rng.integers(1, 15, (n, n)), "cost per unit on an arc",
            "$/unit", default=0)
    m.var("flow", ["K", "N", "N"], "continuous", "units of a commodity on an arc")
    m.objective("minimize", "sum(cost[i, j] * flow[c, i, j] for c in K for i in N for j in N)",
                "total transport cost")
    m.constraint("balance", "sum(flow[c, i, j] for j in N) - sum(flow[c, j, i] for j in N) == "
                 "supply[c, i]", "flow conservation per commodity", ["c in K", "i in N"])
    m.constraint("shared_capacity", "sum(flow[c, i, j] for c in K) <= capacity[i, j]",
                 "all commodities together within the arc capacity", ["i in N", "j in N"])
    return m


def network_design(sizes, rng):
    n = sizes["nodes"]
    arcs = random_arcs(rng, n, sizes["density_pct"] / 100)
    supply = np.zeros(n, dtype=int)
    supply[0] = int(rng.integers(20, 60))
    sinks = rng.choice(np.arange(1, n), max(1, n // 3), replace=False)
    split = np.sort(rng.choice(np.arange(1, supply[0]), len(sinks) - 1, replace=False))
    supply[sinks] = -np.diff(np.r_[0, split, supply[0]])
    m = ModelBuilder("Fixed-charge network design", "Decide which links to build and how to "
                     "route the flow, paying a fixed cost per built link plus a cost per unit.")
    _graph(m, n)
    m.param("supply", ["N"], supply, "net supply of a node (negative: demand)", "units",
            default=0)
    m.param("capacity", ["N", "N"], arcs * supply[0], "capacity of a link if built (0: the "
            "link cannot be built)", "units", default=0)
    m.param("fixed_cost", ["N", "N"], arcs * rng.integers(20, 100, (n, n)),
            "cost of building a link", "k$", default=0)
    m.param("unit_cost", ["N", "N"], arcs * rng.integers(1, 10, (n, n)), "cost per unit sent",
            "k$/unit", default=0)
    m.var("build", ["N", "N"], "binary", "1 if the link is built")
    m.var("flow", ["N", "N"], "continuous", "units sent along a link")
    m.objective("minimize", "sum(fixed_cost[i, j] * build[i, j] + unit_cost[i, j] * "
                "flow[i, j] for i in N for j in N)", "building plus transport cost")
    m.constraint("balance", "sum(flow[i, j] for j in N) - sum(flow[j, i] for j in N) == "
                 "supply[i]", "flow conservation", ["i in N"])
    m.constraint("built_only", "flow[i, j] <= capacity[i, j] * build[i, j]",
                 "flow only on built links, within capacity", ["i in N", "j in N"])
    return m


def _location(m: ModelBuilder, rng, f: int, c: int) -> np.ndarray:
    m.set("F", names("site", f), "candidate sites", "site")
    m.set("C", names("customer", c), "customers", "customer")
    demand = rng.integers(5, 30, c)
    m.param("demand", ["C"], demand, "customer demand", "units")
    m.param("distance", ["F", "C"], distances(rng, f, c), "distance from a site to a "
            "customer", "km")
    m.scalar("rate", 1, "transport cost per unit and km", "$")
    m.param("open_cost", ["F"], rng.integers(100, 400, f), "fixed cost of opening a site", "$")
    m.var("open", ["F"], "binary", "1 if the site is opened")
    m.var("serve", ["F", "C"], "continuous", "share of a customer's demand served from a site",
          upper=1)
    m.objective("minimize", "sum(open_cost[s] * open[s] for s in F) + sum(rate * "
                "distance[s, k] * demand[k] * serve[s, k] for s in F for k in C)",
                "opening plus transport cost")
    m.constraint("served", "sum(serve[s, k] for s in F) == 1", "every customer is fully "
                 "served", ["k in C"])
    return demand


def uncapacitated_facility_location(sizes, rng):
    m = ModelBuilder("Uncapacitated facility location", "Choose which depots to open and "
                     "serve every customer from open depots at least total cost.")
    _location(m, rng, sizes["sites"], sizes["customers"])
    m.constraint("open_only", "serve[s, k] <= open[s]", "serve only from open sites",
                 ["s in F", "k in C"])
    return m


def capacitated_facility_location(sizes, rng):
    f = sizes["sites"]
    m = ModelBuilder("Capacitated facility location", "Choose which warehouses to open and "
                     "serve every customer within warehouse capacities at least total cost.")
    demand = _location(m, rng, f, sizes["customers"])
    share = rng.dirichlet(np.ones(f))
    capacity = np.ceil(demand.sum() * (0.3 + 1.2 * share)).astype(int) + int(demand.max())
    m.param("capacity", ["F"], capacity, "capacity of a site", "units")
    m.constraint("site_capacity", "sum(demand[k] * serve[s, k] for k in C) <= capacity[s] * "
                 "open[s]", "an open site serves at most its capacity; a closed one nothing",
                 ["s in F"])
    return m


def p_median(sizes, rng):
    n, p = sizes["towns"], sizes["clinics"]
    p = min(p, n - 1)
    m = ModelBuilder("p-median", "Open a given number of clinics among the towns so that the "
                     "population-weighted travel distance to the nearest clinic is least.")
    m.set("T", names("town", n), "towns (also the candidate clinic sites)", "town")
    m.param("population", ["T"], rng.integers(1, 50, n), "population of a town", "thousand")
    m.param("distance", ["T", "T"], distances(rng, n, n) * (1 - np.eye(n, dtype=int)),
            "distance between towns", "km", default=0)
    m.scalar("clinics", p, "number of clinics to open")
    m.var("open", ["T"], "binary", "1 if a clinic opens in the town")
    m.var("assign", ["T", "T"], "continuous", "1 if the first town uses the clinic in the "
          "second", upper=1)
    m.objective("minimize", "sum(population[a] * distance[a, b] * assign[a, b] for a in T for "
                "b in T)", "population-weighted distance")
    m.constraint("clinic_count", "sum(open[b] for b in T) == clinics", "open exactly the "
                 "given number of clinics")
    m.constraint("assigned", "sum(assign[a, b] for b in T) == 1", "every town uses one clinic",
                 ["a in T"])
    m.constraint("open_only", "assign[a, b] <= open[b]", "only open clinics are used",
                 ["a in T", "b in T"])
    return m


def _graph_sizes(low: int, high: int) -> tuple[SizeParam, ...]:
    return (SizeParam("nodes", low, high, "nodes of the network"),
            SizeParam("density_pct", 5, 40, "extra arcs, percent of node pairs"))


FAMILIES = [
    Family("transportation", "Transportation", LP, "supply chain",
           (SizeParam("sources", 2, 40, "plants"), SizeParam("customers", 2, 80, "customers")),
           transportation,
           "Two bakeries supply three cafes. Bakery North can bake 120 loaves a day and "
           "bakery South 90. The cafes need 60, 70 and 50 loaves. Delivering a loaf costs 2, "
           "4 and 5 cents from North and 3, 1 and 2 cents from South. Plan deliveries at "
           "least cost."),
    Family("min_cost_flow", "Minimum-cost flow / transshipment", LP, "supply chain",
           _graph_sizes(4, 60), min_cost_flow,
           "A factory ships 30 pallets through two cross-docks to two stores needing 10 and "
           "20. Each lane has a capacity and a cost per pallet; pallets may pass through any "
           "cross-dock. Route the pallets at least cost."),
    Family("max_flow", "Maximum flow", LP, "networks", _graph_sizes(4, 80), max_flow,
           "Water flows from a reservoir through pipes with capacities (in litres per "
           "second) to a city. How much can reach the city per second?"),
    Family("shortest_path", "Shortest path", MILP, "transport", _graph_sizes(4, 80),
           shortest_path,
           "A courier must get from the depot to a client. Roads connect intersections with "
           "given lengths, some one-way. Which route is shortest?"),
    Family("multicommodity_flow", "Multi-commodity flow", LP, "telecommunications",
           (*_graph_sizes(4, 25), SizeParam("commodities", 1, 8, "commodities")),
           multicommodity_flow,
           "Three data streams must cross a network from their origins to their "
           "destinations. Links have a capacity shared by all streams and a cost per unit. "
           "Route every stream at least cost."),
    Family("network_design", "Fixed-charge network design", MILP, "infrastructure",
           _graph_sizes(4, 30), network_design,
           "A utility will lay pipes from a plant to three towns. Each possible pipe has a "
           "building cost and a cost per unit pumped. Which pipes should be built, and how "
           "should water flow, to supply every town at least total cost?"),
    Family("uncapacitated_facility_location", "Uncapacitated facility location", MILP,
           "supply chain", (SizeParam("sites", 2, 40, "candidate sites"),
                            SizeParam("customers", 2, 100, "customers")),
           uncapacitated_facility_location,
           "A retailer may open depots in Leeds (cost 300) and York (cost 250) to serve "
           "three shops. Serving a shop costs its demand times the distance. Which depots "
           "should open?"),
    Family("capacitated_facility_location", "Capacitated facility location", MILP,
           "supply chain", (SizeParam("sites", 2, 30, "candidate sites"),
                            SizeParam("customers", 2, 80, "customers")),
           capacitated_facility_location,
           "Two warehouses with capacities 100 and 80 units can be opened for 500 and 400 "
           "dollars. Four customers need 30, 40, 25 and 35 units; shipping costs a dollar per "
           "unit and km. Which warehouses open and who serves whom?"),
    Family("p_median", "p-median", MILP, "healthcare",
           (SizeParam("towns", 3, 50, "towns"), SizeParam("clinics", 1, 10, "clinics to "
                                                          "open")), p_median,
           "Two clinics will open in five villages. Each village uses its nearest clinic. "
           "Choose the sites minimising population times travel distance."),
]
