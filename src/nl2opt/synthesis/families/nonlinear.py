"""Nonlinear families: mean-variance portfolio (convex QP), pricing with cross-price
effects (concave revenue, QP) and pooling with quality balances (nonconvex QCP)."""

from __future__ import annotations

import numpy as np

from nl2opt.formulation.classify import ProblemClass
from nl2opt.synthesis.build import ModelBuilder, names
from nl2opt.synthesis.family import Family, SizeParam


def portfolio(sizes, rng):
    n = sizes["assets"]
    factors = rng.normal(0, 0.08, (n, 2))
    covariance = (factors @ factors.T + np.diag(rng.uniform(0.002, 0.02, n))).round(5)
    expected = rng.uniform(0.02, 0.15, n).round(4)
    target = round(float(expected.min() + 0.5 * (expected.max() - expected.min())), 4)
    m = ModelBuilder("Mean-variance portfolio", "Invest a budget across assets to reach a "
                     "target expected return with the least variance (Markowitz).")
    m.set("A", names("asset", n), "assets", "asset")
    m.param("expected_return", ["A"], expected, "expected yearly return (fraction)")
    m.param("covariance", ["A", "A"], covariance, "covariance of yearly returns")
    m.scalar("target", target, "least expected portfolio return (fraction)")
    m.var("weight", ["A"], "continuous", "fraction of the budget in the asset", upper=1)
    m.objective("minimize", "sum(covariance[i, j] * weight[i] * weight[j] for i in A for j "
                "in A)", "portfolio variance")
    m.constraint("budget", "sum(weight[i] for i in A) == 1", "the whole budget is invested")
    m.constraint("return_target", "sum(expected_return[i] * weight[i] for i in A) >= target",
                 "expected return at least the target")
    return m


def pricing(sizes, rng):
    n = sizes["products"]
    cost = rng.integers(5, 20, n)
    slope = rng.uniform(2.0, 5.0, n).round(2)
    cross = rng.uniform(0, 0.4, (n, n)).round(2) * (1 - np.eye(n))
    cross *= np.minimum(1.0, 0.8 * slope[:, None] / max(1.0, cross.sum(axis=1).max()))
    cross = cross.round(2)
    base = (slope * cost * rng.uniform(2.0, 3.0, n)).round(1)
    m = ModelBuilder("Pricing with cross-price effects", "Set prices of substitute products "
                     "to maximise profit; each product's demand falls with its own price and "
                     "rises with the others' (linear demand, so profit is quadratic).")
    m.set("P", names("product", n), "products", "product")
    m.param("unit_cost", ["P"], cost, "cost per unit", "$")
    m.param("base_demand", ["P"], base, "demand intercept", "units")
    m.param("own_slope", ["P"], slope, "demand lost per dollar of own price", "units/$")
    m.param("cross_slope", ["P", "P"], cross, "demand gained per dollar of another product's "
            "price", "units/$", default=0)
    m.scalar("capacity", int(0.5 * base.sum()), "most units that can be supplied in total",
             "units")
    m.var("price", ["P"], "continuous", "price of a product", lower="unit_cost[P]")
    m.objective("maximize", "sum((price[i] - unit_cost[i]) * (base_demand[i] - own_slope[i] * "
                "price[i] + sum(cross_slope[i, j] * price[j] for j in P)) for i in P)",
                "profit")
    m.constraint("demand_nonnegative", "base_demand[i] - own_slope[i] * price[i] + "
                 "sum(cross_slope[i, j] * price[j] for j in P) >= 0", "demand cannot be "
                 "negative", ["i in P"])
    m.constraint("supply_limit", "sum(base_demand[i] - own_slope[i] * price[i] + "
                 "sum(cross_slope[i, j] * price[j] for j in P) for i in P) <= capacity",
                 "total demand within supply")
    return m


def pooling(sizes, rng):
    s, d, k = sizes["pool_inputs"], sizes["direct_inputs"], sizes["products"]
    quality = np.sort(np.r_[rng.uniform(0.5, 1.2), rng.uniform(2.8, 4.0),
                            rng.uniform(0.5, 4.0, s - 2)]).round(2)
    direct_quality = rng.uniform(1.0, 3.0, d).round(2)
    cost = (18 - 2.5 * quality + rng.uniform(-1, 1, s)).round(1)
    m = ModelBuilder("Pooling", "Crude fractions are mixed in one pool whose sulfur content "
                     "is a decision; pool output and direct fractions are blended into "
                     "products with sulfur limits. Maximise profit (bilinear quality "
                     "balances).")
    m.set("S", names("crude", s), "fractions fed into the pool", "crude")
    m.set("D", names("bypass", d), "fractions blended directly into products", "bypass")
    m.set("K", names("product", k), "products", "product")
    m.param("sulfur", ["S"], quality, "sulfur content of a pool input", "%")
    m.param("crude_cost", ["S"], cost, "cost of a pool input", "$/bbl")
    m.param("direct_sulfur", ["D"], direct_quality, "sulfur content of a direct fraction",
            "%")
    m.param("direct_cost", ["D"], (16 - 2 * direct_quality).round(1), "cost of a direct "
            "fraction", "$/bbl")
    m.param("direct_supply", ["D"], rng.integers(20, 100, d), "barrels of a direct fraction",
            "bbl")
    m.param("price", ["K"], rng.integers(14, 22, k), "product price", "$/bbl")
    m.param("max_sulfur", ["K"], rng.uniform(quality.min() + 0.2, quality.max() - 0.2,
                                             k).round(2), "sulfur limit of a product", "%")
    m.param("demand", ["K"], rng.integers(50, 200, k), "most that can be sold", "bbl")
    m.var("feed", ["S"], "continuous", "barrels of a crude fed into the pool")
    m.var("pool_out", ["K"], "continuous", "barrels from the pool into a product")
    m.var("direct", ["D", "K"], "continuous", "barrels of a direct fraction into a product")
    m.var("pool_sulfur", [], "continuous", "sulfur content of the pool",
          lower=float(quality.min()), upper=float(quality.max()))
    m.objective("maximize", "sum(price[p] * (pool_out[p] + sum(direct[b, p] for b in D)) for "
                "p in K) - sum(crude_cost[c] * feed[c] for c in S) - sum(direct_cost[b] * "
                "direct[b, p] for b in D for p in K)", "revenue minus purchase cost")
    m.constraint("pool_balance", "sum(feed[c] for c in S) == sum(pool_out[p] for p in K)",
                 "what enters the pool leaves it")
    m.constraint("pool_quality", "pool_sulfur * sum(pool_out[p] for p in K) == "
                 "sum(sulfur[c] * feed[c] for c in S)", "sulfur balance of the pool")
    m.constraint("product_quality", "pool_sulfur * pool_out[p] + sum(direct_sulfur[b] * "
                 "direct[b, p] for b in D) <= max_sulfur[p] * (pool_out[p] + sum(direct[b, p] "
                 "for b in D))", "product sulfur within its limit", ["p in K"])
    m.constraint("product_demand", "pool_out[p] + sum(direct[b, p] for b in D) <= demand[p]",
                 "sales within demand", ["p in K"])
    m.constraint("direct_limit", "sum(direct[b, p] for p in K) <= direct_supply[b]",
                 "direct fractions within supply", ["b in D"])
    return m


FAMILIES = [
    Family("portfolio", "Mean-variance portfolio", ProblemClass.QP, "finance",
           (SizeParam("assets", 2, 200, "assets"),), portfolio,
           "An investor splits savings between a bond fund (4% expected return, variance "
           "0.002), a stock fund (9%, 0.03) and gold (5%, 0.02, uncorrelated with the "
           "others; bonds and stocks have covariance 0.001). She wants at least 6% expected "
           "return with the least variance. How should she split the money?",
           linear_objective=False),
    Family("pricing", "Pricing with cross-price effects", ProblemClass.QP, "retail",
           (SizeParam("products", 2, 150, "products"),), pricing,
           "A cafe sells tea and coffee. Tea demand is 200 minus 20 per dollar of tea price "
           "plus 5 per dollar of coffee price; coffee demand is 300 minus 30 per dollar of its "
           "price plus 4 per dollar of tea price. Tea costs 1 dollar and coffee 1.5 dollars to "
           "make. Which prices maximise profit?", linear_objective=False),
    Family("pooling", "Pooling (nonconvex)", ProblemClass.QCP, "process industry",
           (SizeParam("pool_inputs", 2, 12, "crudes fed into the pool"),
            SizeParam("direct_inputs", 1, 6, "fractions blended directly"),
            SizeParam("products", 2, 10, "products")), pooling,
           "A refinery mixes a high-sulfur (3%) and a low-sulfur (1%) crude in one tank and "
           "blends the tank's output, plus a 2% fraction bought separately, into two fuels "
           "with sulfur limits of 2.5% and 1.5%. Prices, costs and demands are known. How "
           "much of each should be bought and blended?"),
]
