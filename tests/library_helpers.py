"""Builders for experience-library tests: insights and hand-written training problems.

The problems are written for these tests (never benchmark items). Each recurring
mistake has a problem family whose right answer needs one insight.
"""

from __future__ import annotations

from nl2opt.library.model import (
    Insight,
    InsightDraft,
    Provenance,
    Stage,
    Status,
    TaxonomyPath,
)


def draft(condition: str, explanation: str = "Do it right.", example: str = "",
          stage: Stage = Stage.formulation, level1: str = "Constraint Formulation",
          level2: str = "Percentage limits") -> InsightDraft:
    return InsightDraft(taxonomy=TaxonomyPath(stage=stage, level1=level1, level2=level2),
                        condition=condition, explanation=explanation, example=example)


def insight(condition: str, sources: tuple[str, ...] = ("t1",), status: Status = Status.verified,
            **fields) -> Insight:
    made = draft(condition, **fields).to_insight(Provenance(source_tasks=list(sources)), status)
    return made


PERCENT_CONDITION = ("The problem limits one quantity to at most a percentage (such as 40%) "
                     "of a total or of another quantity.")
PERCENT_EXPLANATION = ("Write 'at most p% of the total' as x <= p/100 * total with the "
                       "percentage as a fraction (0.4, not 40) and the direction <=. A common "
                       "mistake is writing >= or using 40 instead of 0.4.")
PERCENT_EXAMPLE = ('Wrong: "expression": "wheat >= 40 * (wheat + corn)"\n'
                   'Correct: "expression": "wheat <= 0.4 * (wheat + corn)"')


# A small hand-written library: (key, condition, taxonomy level1, level2).
LIBRARY = [
    ("percent",
     PERCENT_CONDITION,
     "Constraint Formulation", "Percentage limits"),
    ("integer",
     ("The problem asks how many indivisible things (vehicles, trucks, vans, workers, machines, "
      "buildings) to buy, hire or build; they come only in whole numbers."),
     "Variable Definition", "Integrality"),
    ("flow",
     ("Goods move through a network of nodes and arcs, such as warehouses shipping to stores "
      "through hubs."),
     "Network Flow", "Flow Conservation"),
    ("fixed",
     ("A facility, machine or route incurs a fixed cost or setup only if it is used or opened at "
      "all."),
     "Constraint Formulation", "Fixed charges"),
    ("inventory",
     ("Stock carries over from one period to the next, such as monthly production with storage "
      "between months."),
     "Constraint Formulation", "Inventory balance"),
    ("units",
     ("Quantities in the statement use different units, such as minutes and hours or grams and "
      "kilograms."),
     "Units Scaling", "Unit conversion"),
    ("either",
     ("The statement gives alternative requirements, a choice between two conditions (e.g. hire "
      "staff or buy equipment) of which at least one must hold."),
     "Constraint Formulation", "Either-or"),
    ("ratio",
     ("One quantity must be at least a multiple of another quantity, such as at least three times "
      "as many small items as large ones."),
     "Constraint Formulation", "Ratios between variables"),
]

# (problem, the key of the insight that applies): hand-written, not benchmark items.
CASES = [
    (('A farmer plants wheat and corn on 200 acres. At most 40% of the planted area may be corn. '
      "Wheat earns $300 per acre and corn $500. Maximize profit."),
     "percent"),
    (('A delivery firm buys vans and trucks. A van costs $30,000 and carries 2 tons; a truck costs'
      " $50,000 and carries 5 tons. It must carry 40 tons. How many of each should it buy to "
      "minimize cost?"),
     "integer"),
    (('Two warehouses ship pallets to three stores through a hub; each route has a capacity and a '
      "cost per pallet. Meet store demand at minimum shipping cost."),
     "flow"),
    (('A company may open plants in three cities; opening a plant costs a fixed amount and each '
      "unit produced there has a variable cost. Serve demand at minimum total cost."),
     "fixed"),
    (('A bakery plans production for the next four months; unsold cakes can be stored for later '
      "months at a holding cost. Demand each month must be met."),
     "inventory"),
    (('A machine works 8 hours a day; product A takes 30 minutes and product B 45 minutes on it. '
      "Maximize the number of products made."),
     "units"),
    (('A school must either hire at least 5 teachers or buy at least 20 computers, and has a fixed'
      " budget. Minimize cost."),
     "either"),
    (('A shop sells large and small boxes and must stock at least three times as many small boxes '
      "as large boxes. Maximize revenue."),
     "ratio"),
]

def hand_library(status: Status = Status.verified) -> dict[str, Insight]:
    return {key: insight(condition, sources=(f"train-{key}",), status=status,
                         level1=level1, level2=level2,
                         stage=Stage.domain if level1 == "Network Flow" else Stage.formulation)
            for key, condition, level1, level2 in LIBRARY}


def farm_problem(acres: int, percent: int, corn_profit: int, wheat_profit: int) -> str:
    """A hand-written 'at most p% of the land' problem (the percentage family)."""
    return (f"A farmer has {acres} acres to plant with wheat and corn. At most {percent}% of "
            f"the planted land may be corn. Each acre of corn earns ${corn_profit} and each "
            f"acre of wheat ${wheat_profit}. All land is planted. How many acres of each "
            "maximize profit?")


def farm_numbers(text: str) -> tuple[int, int, int, int]:
    import re

    numbers = [int(n) for n in re.findall(r"(\d+)", text.split("Problem:")[-1])]
    return numbers[0], numbers[1], numbers[2], numbers[3]


def farm_answer(text: str, correct: bool) -> dict:
    """The formulation a model writes for a farm problem: right, or with the classic
    mistakes (the percentage as 40 and the direction >=)."""
    acres, percent, corn, wheat = farm_numbers(text)
    share = f"corn <= {percent / 100} * (corn + wheat)" if correct else \
        f"corn >= {percent} * (corn + wheat)"
    return {"reasoning": "acres of each crop", "formulation": {
        "parameters": [{"name": "land", "value": acres}],
        "variables": [{"name": "corn", "description": "acres of corn"},
                      {"name": "wheat", "description": "acres of wheat"}],
        "objective": {"sense": "maximize", "expression": f"{corn} * corn + {wheat} * wheat"},
        "constraints": [{"name": "land", "expression": "corn + wheat == land"},
                        {"name": "share", "expression": share}]}}


def farm_optimum(acres: int, percent: int, corn: int, wheat: int) -> float:
    share = percent / 100 * acres
    return corn * share + wheat * (acres - share) if corn > wheat else wheat * acres
