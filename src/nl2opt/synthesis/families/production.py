"""Production, inventory and mixing families: product mix, multi-period planning, lot
sizing, inventory with backlog, diet and blending."""

from __future__ import annotations

import numpy as np

from nl2opt.formulation.classify import ProblemClass
from nl2opt.synthesis.build import ModelBuilder, names
from nl2opt.synthesis.family import Family, SizeParam

LP, MILP = ProblemClass.LP, ProblemClass.MILP


def production_mix(sizes, rng):
    n, r = sizes["products"], sizes["resources"]
    usage = rng.integers(0, 8, (n, r))
    usage[np.arange(n), rng.integers(0, r, n)] += 1  # every product uses something
    m = ModelBuilder("Product mix", "Decide how much of each product to make with limited "
                     "resources to maximise profit.")
    m.set("P", names("product", n), "products", "product")
    m.set("R", names("resource", r), "resources", "resource")
    m.param("profit", ["P"], rng.integers(5, 50, n), "profit per unit", "$")
    m.param("usage", ["P", "R"], usage, "resource used per unit", "h", default=0)
    m.param("available", ["R"], rng.integers(50, 300, r), "resource available", "h")
    m.var("make", ["P"], "continuous", "units made")
    m.objective("maximize", "sum(profit[p] * make[p] for p in P)", "total profit")
    m.constraint("resource_limit", "sum(usage[p, k] * make[p] for p in P) <= available[k]",
                 "resources used within availability", ["k in R"])
    return m


def production_planning(sizes, rng):
    n, t = sizes["products"], sizes["periods"]
    demand = rng.integers(10, 60, (n, t))
    hours = rng.integers(1, 4, n)
    capacity = int(np.ceil(1.15 * (hours[:, None] * demand).sum(axis=0).max()))
    m = ModelBuilder("Multi-period production planning", "Plan production and stock of "
                     "several products over the periods to meet demand at least production "
                     "and holding cost, within the hours available each period.")
    m.set("P", names("product", n), "products", "product")
    m.set("T", range(1, t + 1), "periods", "month")
    m.param("demand", ["P", "T"], demand, "demand of a product in a period", "units")
    m.param("hours", ["P"], hours, "machine hours per unit", "h")
    m.param("unit_cost", ["P", "T"], rng.integers(5, 15, (n, t)), "production cost per unit",
            "$")
    m.param("holding", ["P"], rng.integers(1, 4, n), "cost of holding a unit for a period",
            "$")
    m.scalar("capacity", capacity, "machine hours per period", "h")
    m.var("make", ["P", "T"], "continuous", "units produced")
    m.var("stock", ["P", "T"], "continuous", "units in stock at the end of the period")
    m.objective("minimize", "sum(unit_cost[p, t] * make[p, t] + holding[p] * stock[p, t] for p "
                "in P for t in T)", "production plus holding cost")
    m.constraint("first_balance", "make[p, 1] - stock[p, 1] == demand[p, 1]", "first period: "
                 "production meets demand, the rest is stocked", ["p in P"])
    m.constraint("balance", "stock[p, t - 1] + make[p, t] - stock[p, t] == demand[p, t]",
                 "stock carried in plus production meets demand", ["p in P", "t in T"],
                 "t > 1")
    m.constraint("machine_hours", "sum(hours[p] * make[p, t] for p in P) <= capacity",
                 "machine hours per period", ["t in T"])
    return m


def lot_sizing(sizes, rng):
    t = sizes["periods"]
    demand = rng.integers(0, 40, t)
    m = ModelBuilder("Uncapacitated lot sizing", "Decide in which periods to set up "
                     "production and how much to make, trading set-up costs against "
                     "holding costs, to meet every period's demand.")
    m.set("T", range(1, t + 1), "periods", "week")
    m.param("demand", ["T"], demand, "demand in a period", "units")
    m.scalar("setup_cost", int(rng.integers(50, 200)), "cost of a production set-up", "$")
    m.scalar("holding", int(rng.integers(1, 5)), "cost of holding a unit for a period", "$")
    m.scalar("max_lot", int(demand.sum()), "most that can be made in a period (the total "
             "demand, in units)")
    m.var("make", ["T"], "continuous", "units produced")
    m.var("stock", ["T"], "continuous", "stock at the end of the period")
    m.var("setup", ["T"], "binary", "1 if production is set up")
    m.objective("minimize", "sum(setup_cost * setup[t] + holding * stock[t] for t in T)",
                "set-up plus holding cost")
    m.constraint("first_balance", "make[1] - stock[1] == demand[1]", "first period balance")
    m.constraint("balance", "stock[t - 1] + make[t] - stock[t] == demand[t]", "stock balance",
                 ["t in T"], "t > 1")
    m.constraint("setup_needed", "make[t] <= max_lot * setup[t]", "produce only after a "
                 "set-up", ["t in T"])
    return m


def multi_item_lot_sizing(sizes, rng):
    n, t = sizes["items"], sizes["periods"]
    demand = rng.integers(0, 30, (n, t))
    setup_time = rng.integers(2, 10, n)
    capacity = int(np.ceil(1.3 * (demand.sum(axis=0) + setup_time.sum()).max()))
    m = ModelBuilder("Capacitated multi-item lot sizing", "Several items share one machine "
                     "whose time per period covers production and set-up times; plan lots to "
                     "meet demand at least set-up plus holding cost.")
    m.set("I", names("item", n), "items", "item")
    m.set("T", range(1, t + 1), "periods", "week")
    m.param("demand", ["I", "T"], demand, "demand of an item in a period", "units")
    m.param("setup_cost", ["I"], rng.integers(30, 150, n), "cost of a set-up", "$")
    m.param("setup_time", ["I"], setup_time, "machine time a set-up takes", "h")
    m.param("holding", ["I"], rng.integers(1, 5, n), "holding cost per unit and period", "$")
    m.scalar("capacity", capacity, "machine hours per period (one unit takes one hour)", "h")
    m.var("make", ["I", "T"], "continuous", "units produced")
    m.var("stock", ["I", "T"], "continuous", "stock at the end of the period")
    m.var("setup", ["I", "T"], "binary", "1 if the item is set up in the period")
    m.objective("minimize", "sum(setup_cost[i] * setup[i, t] + holding[i] * stock[i, t] for i "
                "in I for t in T)", "set-up plus holding cost")
    m.constraint("first_balance", "make[i, 1] - stock[i, 1] == demand[i, 1]", "first period",
                 ["i in I"])
    m.constraint("balance", "stock[i, t - 1] + make[i, t] - stock[i, t] == demand[i, t]",
                 "stock balance", ["i in I", "t in T"], "t > 1")
    m.constraint("setup_needed", "make[i, t] <= capacity * setup[i, t]", "produce only after "
                 "a set-up", ["i in I", "t in T"])
    m.constraint("machine_time", "sum(make[i, t] + setup_time[i] * setup[i, t] for i in I) "
                 "<= capacity", "production plus set-up time within capacity", ["t in T"])
    return m


def inventory_backlog(sizes, rng):
    t = sizes["periods"]
    demand = rng.integers(20, 80, t)
    m = ModelBuilder("Production and inventory with backlog", "Meet demand from production "
                     "and stock; unmet demand is backlogged at a penalty and must be cleared "
                     "by the end.")
    m.set("T", range(1, t + 1), "periods", "month")
    m.param("demand", ["T"], demand, "demand", "units")
    m.param("unit_cost", ["T"], rng.integers(8, 15, t), "production cost per unit", "$")
    m.scalar("capacity", int(np.ceil(1.1 * demand.mean())) + 1, "production capacity per "
             "period", "units")
    m.scalar("holding", int(rng.integers(1, 4)), "holding cost per unit and period", "$")
    m.scalar("backlog_cost", int(rng.integers(4, 10)), "penalty per unit backlogged per "
             "period", "$")
    m.scalar("last", t, "the last period")
    m.var("make", ["T"], "continuous", "units produced", upper="capacity")
    m.var("stock", ["T"], "continuous", "stock at the end of the period")
    m.var("backlog", ["T"], "continuous", "unmet demand carried to the next period")
    m.objective("minimize", "sum(unit_cost[t] * make[t] + holding * stock[t] + backlog_cost * "
                "backlog[t] for t in T)", "production, holding and backlog cost")
    m.constraint("first_balance", "make[1] - stock[1] + backlog[1] == demand[1]", "first "
                 "period balance")
    m.constraint("balance", "stock[t - 1] - backlog[t - 1] + make[t] - stock[t] + backlog[t] "
                 "== demand[t]", "net stock balance", ["t in T"], "t > 1")
    m.constraint("cleared", "backlog[t] == 0", "no backlog at the end", ["t in T"],
                 "t == last")
    return m


def diet(sizes, rng):
    f, k = sizes["foods"], sizes["nutrients"]
    content = rng.integers(0, 30, (f, k))
    content[rng.integers(0, f, k), np.arange(k)] += 5  # every nutrient is somewhere
    plan = rng.uniform(0.5, 2.0, f)  # a diet the bounds must allow
    intake = plan @ content
    m = ModelBuilder("Diet", "Choose food amounts meeting nutrient minimums and maximums at "
                     "least cost.")
    m.set("F", names("food", f), "foods", "food")
    m.set("K", names("nutrient", k), "nutrients", "nutrient")
    m.param("price", ["F"], rng.integers(1, 10, f), "price per serving", "$")
    m.param("content", ["F", "K"], content, "nutrient per serving", "g", default=0)
    m.param("minimum", ["K"], np.floor(0.8 * intake), "least daily intake", "g")
    m.param("maximum", ["K"], np.ceil(1.6 * intake) + 1, "most daily intake", "g")
    m.var("servings", ["F"], "continuous", "servings eaten", upper=4)
    m.objective("minimize", "sum(price[i] * servings[i] for i in F)", "cost of the diet")
    m.constraint("nutrition", "minimum[n] <= sum(content[i, n] * servings[i] for i in F) <= "
                 "maximum[n]", "intake within the limits", ["n in K"])
    return m


def blending(sizes, rng):
    r, q = sizes["ingredients"], sizes["qualities"]
    level = rng.uniform(1, 20, (r, q)).round(1)
    recipe = rng.dirichlet(np.ones(r))  # a blend the quality limits must allow
    amount = int(rng.integers(100, 500))
    achieved = recipe @ level
    m = ModelBuilder("Blending", "Blend ingredients into a product of given quantity whose "
                     "qualities stay within limits, at least cost.")
    m.set("R", names("ingredient", r), "ingredients", "ingredient")
    m.set("Q", names("quality", q), "quality measures", "quality")
    m.param("cost", ["R"], rng.integers(2, 20, r), "cost per tonne", "$/t")
    m.param("level", ["R", "Q"], level, "quality level of an ingredient")
    m.param("supply", ["R"], np.ceil(recipe * amount * rng.uniform(1.2, 3.0, r)) + 1,
            "tonnes available", "t")
    m.param("low", ["Q"], np.floor(0.9 * achieved * 10) / 10, "least quality of the blend")
    m.param("high", ["Q"], np.ceil(1.1 * achieved * 10) / 10, "greatest quality of the blend")
    m.scalar("amount", amount, "tonnes of blend to make", "t")
    m.var("use", ["R"], "continuous", "tonnes of an ingredient used", upper="supply[R]")
    m.objective("minimize", "sum(cost[i] * use[i] for i in R)", "ingredient cost")
    m.constraint("quantity", "sum(use[i] for i in R) == amount", "make the required amount")
    m.constraint("quality_low", "sum(level[i, k] * use[i] for i in R) >= low[k] * amount",
                 "blend quality at least the minimum", ["k in Q"])
    m.constraint("quality_high", "sum(level[i, k] * use[i] for i in R) <= high[k] * amount",
                 "blend quality at most the maximum", ["k in Q"])
    return m


FAMILIES = [
    Family("production_mix", "Product mix", LP, "manufacturing",
           (SizeParam("products", 2, 150, "products"),
            SizeParam("resources", 1, 60, "resources")), production_mix,
           "A furniture maker earns 30 dollars per chair and 50 per desk. A chair takes 2 "
           "hours of carpentry and 1 of finishing; a desk 3 and 2. There are 100 carpentry "
           "and 60 finishing hours. How many of each maximise profit?"),
    Family("production_planning", "Multi-period production planning", LP, "manufacturing",
           (SizeParam("products", 1, 30, "products"), SizeParam("periods", 2, 24, "periods")),
           production_planning,
           "A toy factory must meet demand of 100, 150 and 120 units over three months with "
           "130 units of capacity a month. Production costs 5, 6 and 7 dollars a unit in the "
           "three months and holding a unit costs 1 dollar a month. Plan production."),
    Family("lot_sizing", "Uncapacitated lot sizing", MILP, "manufacturing",
           (SizeParam("periods", 2, 120, "periods"),), lot_sizing,
           "Weekly demand for a part is 20, 0, 35 and 15. Each production run costs 100 "
           "dollars to set up and holding a part for a week costs 2 dollars. In which weeks "
           "should the part be made, and how many?"),
    Family("multi_item_lot_sizing", "Capacitated multi-item lot sizing", MILP,
           "manufacturing", (SizeParam("items", 1, 12, "items"),
                             SizeParam("periods", 2, 24, "periods")), multi_item_lot_sizing,
           "Two paints share one mixer with 60 hours a week. Each batch change costs a set-up "
           "fee and takes set-up time; demand per week is known and stock costs money to "
           "hold. Plan batches for four weeks at least cost."),
    Family("inventory_backlog", "Production and inventory with backlog", LP, "supply chain",
           (SizeParam("periods", 2, 120, "periods"),), inventory_backlog,
           "A bike shop assembles at most 50 bikes a month. Demand is 40, 70 and 45 bikes. "
           "Holding a bike costs 2 dollars a month and a late order costs 6 dollars per month "
           "of delay; all orders must be filled by the end of month 3."),
    Family("diet", "Diet", LP, "nutrition",
           (SizeParam("foods", 2, 150, "foods"), SizeParam("nutrients", 1, 40, "nutrients")),
           diet,
           "Oats cost 0.3 dollars per serving with 5 g protein and 27 g carbohydrate; milk "
           "costs 0.5 with 8 g protein and 12 g carbohydrate. A breakfast needs at least 15 g "
           "protein and between 40 and 80 g carbohydrate. Find the cheapest breakfast."),
    Family("blending", "Blending", LP, "process industry",
           (SizeParam("ingredients", 2, 80, "ingredients"),
            SizeParam("qualities", 1, 30, "quality measures")), blending,
           "A feed mill blends corn (0.2 $/kg, 9% protein) and soy meal (0.5 $/kg, 44% "
           "protein) into 1000 kg of feed with at least 16% protein. Find the cheapest blend."),
]
